package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime/pprof"
	"time"

	"github.com/samalba/docker-eventsd/internal/fakeengine"
)

// P2: ingest. Many fake engines, a rule that matches nothing (so every event
// streamed is applied to the cache and matched, and, since the config has
// rules, not logged), and the marker rule. The engines emit a rising rate of
// events; at each rate the bench checks that the daemon keeps up: no event
// dropped by the 100 ms rule, and the markers signalled during the load
// handled without a growing lag, the last one within a second of the end of
// the load. The baseline is what the fake engines achieved: the rate the
// daemon was offered.
func benchP2(ctx context.Context, env *Env) ([]SummaryRow, error) {
	dir, err := env.subdir("p2")
	if err != nil {
		return nil, err
	}
	fk, err := startFakes(env.FakeBin, fakeengine.Options{Engines: env.P2Engines, Containers: env.P2Containers})
	if err != nil {
		return nil, err
	}
	defer fk.Close()
	mk, err := newMarkers(ctx, fk.URLs())
	if err != nil {
		return nil, err
	}
	defer mk.Close()
	cfg := clusterYAML(fk.URLs()) + `events:
  - name: nothing
    type: [start, die, kill, health_status]
    from_container: no-such-container
    command: "true"
` + markerRule
	d, err := startDaemon(dir, env.DaemonBin, daemonOptions{Config: cfg, LogMode: env.LogMode, ProcEnv: env.ProcEnv, Verbosity: env.Verbosity})
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	if _, err := d.waitLog(`"msg":"Engine in sync"`, env.P2Engines, 120*time.Second); err != nil {
		return nil, err
	}
	mk.watch(d.Log)
	logf("P2: %d engines × %d containers, mix %s, %v per rate, daemon %s", env.P2Engines, env.P2Containers, env.P2Mix, env.P2Duration, d.kind())

	table := [][]string{{"offered (events/s emitted)", "emitted/s", "streamed/s (after server-side filter)", "handled/s",
		"dropped (100 ms rule)", "marker lag p50 / p99 / max", "last marker after end", "lag p50 / p99 at Handle", "CPU: daemon / fakes", "keeps up"}}
	var best *p2Result
	for _, rate := range env.P2Rates {
		if ctx.Err() != nil {
			break
		}
		prof := ""
		if env.CPUProfile != "" && d.InProcess() {
			prof = filepath.Join(dir, fmt.Sprintf("cpu-%.0f.pprof", rate))
		}
		r, err := p2Step(ctx, env, fk, d, mk, rate, prof)
		if err != nil {
			return nil, err
		}
		lag, handled := "n/a (binary)", "n/a (binary)"
		if d.InProcess() {
			lag = ms(r.lag50) + " / " + ms(r.lag99)
			handled = fmt.Sprintf("%.0f", r.handled)
		}
		table = append(table, []string{
			fmt.Sprintf("%.0f", rate), fmt.Sprintf("%.0f", r.emitted), fmt.Sprintf("%.0f", r.streamed),
			handled, fmt.Sprint(r.dropped), ms(r.mark50) + " / " + ms(r.mark99) + " / " + ms(r.markMax), ms(r.drain), lag,
			fmt.Sprintf("%.2f / %.2f cores", r.cpu, r.fakeCPU), r.verdict(),
		})
		logf("P2: rate %.0f: streamed %.0f/s dropped %d marker lag p99 %v, last %v after the end: %s", rate, r.streamed, r.dropped, r.mark99, r.drain, r.verdict())
		if !r.ok() {
			break
		}
		best = r
	}
	env.table(fmt.Sprintf("P2 ingest: %d fake engines × %d containers, rules match nothing, mix %s (daemon %s%s)",
		env.P2Engines, env.P2Containers, env.P2Mix, d.kind(), env.variant()), table)
	row := SummaryRow{ID: "P2", Metric: "sustained ingest (events streamed/s)", Target: "≥ 100,000 events/s", Baseline: "offered rate"}
	if best == nil {
		row.Measured, row.Met = "below the lowest rate tried", "no"
	} else {
		row.Measured = fmt.Sprintf("%.0f/s (cluster emitting %.0f/s)", best.streamed, best.emitted)
		row.Baseline = fmt.Sprintf("offered %.0f/s", best.rate)
		row.Met = verdict(best.streamed >= 100000, "")
	}
	return []SummaryRow{row}, nil
}

type p2Result struct {
	rate, emitted, streamed, handled float64
	dropped, lost                    int64
	drain, lag50, lag99              time.Duration
	mark50, mark99, markMax          time.Duration
	cpu, fakeCPU                     float64
	fakeLimited                      bool
}

// ok: the daemon kept up.
func (r *p2Result) ok() bool {
	return r.dropped == 0 && r.lost == 0 && r.drain <= time.Second && !r.fakeLimited
}

func (r *p2Result) verdict() string {
	switch {
	case r.fakeLimited:
		return fmt.Sprintf("no: fakes reached only %.0f/s", r.emitted)
	case r.dropped > 0:
		return "no: events dropped"
	case r.lost > 0:
		return fmt.Sprintf("no: %d events not handled", r.lost)
	case r.drain > time.Second:
		return "no: lag grows"
	}
	return "yes"
}

// markEvery is how often the markers are signalled during a step.
const markEvery = 200 * time.Millisecond

// p2Step offers rate events/s for env.P2Duration and measures.
func p2Step(ctx context.Context, env *Env, fk fakes, d *daemon, mk *markers, rate float64, prof string) (*p2Result, error) {
	if err := mk.update(); err != nil {
		return nil, err
	}
	st0, err := fk.Stats()
	if err != nil {
		return nil, err
	}
	var h0 int64
	if d.handled != nil {
		h0 = d.handled.load()
	}
	pid := d.Pid()
	cpu0, fcpu0 := cpuTime(pid), cpuTime(fk.Pid())
	if d.lag != nil {
		d.lag.reset()
	}
	mk.lag.reset()
	if prof != "" {
		f, err := os.Create(prof)
		if err == nil {
			_ = pprof.StartCPUProfile(f)
			defer func() {
				pprof.StopCPUProfile()
				f.Close()
			}()
		}
	}
	if err := fk.StartLoad(fakeengine.LoadOptions{Rate: rate, Mix: env.P2Mix, Duration: env.P2Duration}); err != nil {
		return nil, err
	}
	start := time.Now()
	r := &p2Result{rate: rate}
	var st fakeengine.Stats
	for {
		select {
		case <-ctx.Done():
			_ = fk.StopLoad()
			return nil, ctx.Err()
		case <-time.After(markEvery):
		}
		if st, err = fk.Stats(); err != nil {
			return nil, err
		}
		if !st.Load.Running && time.Since(start) > 200*time.Millisecond {
			break
		}
		if err := mk.round(ctx); err != nil {
			return nil, err
		}
		if err := mk.update(); err != nil {
			return nil, err
		}
	}
	loadTime := st.Load.Elapsed.Seconds()
	end := time.Now()
	cpuEnd, fcpuEnd := cpuTime(pid), cpuTime(fk.Pid())
	// Drain: the markers signalled after the end handled, and with them
	// everything the engines emitted before.
	if err := mk.round(ctx); err != nil {
		return nil, err
	}
	for {
		if err := mk.update(); err != nil {
			return nil, err
		}
		if mk.pending() == 0 {
			r.drain = time.Since(end)
			break
		}
		if time.Since(end) > 10*time.Second {
			r.drain = time.Since(end)
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	if st, err = fk.Stats(); err != nil {
		return nil, err
	}
	r.emitted = float64(st.Emitted-st0.Emitted) / loadTime
	r.streamed = float64(st.Queued-st0.Queued) / loadTime
	r.dropped = st.Dropped - st0.Dropped
	if d.handled != nil {
		// In process every event handed to the controller is counted: all
		// the engines queued must have been (markers included).
		got := d.handled.load() - h0
		r.handled = float64(got) / loadTime
		r.lost = max(0, (st.Queued-st0.Queued)-got)
	}
	r.cpu = (cpuEnd - cpu0).Seconds() / end.Sub(start).Seconds()
	if fk.Pid() != pid {
		r.fakeCPU = (fcpuEnd - fcpu0).Seconds() / end.Sub(start).Seconds()
	}
	r.mark50, r.mark99, r.markMax = mk.lag.quantile(.5), mk.lag.quantile(.99), time.Duration(mk.lag.max.Load())
	r.fakeLimited = r.emitted < 0.95*rate
	if d.lag != nil {
		r.lag50, r.lag99 = d.lag.quantile(.5), d.lag.quantile(.99)
	}
	return r, nil
}
