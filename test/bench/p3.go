package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samalba/docker-eventsd/internal/fakeengine"
)

// P3: handler throughput. A rule matching every event runs `true`; the fake
// engines offer more events than the handlers can take, so the workers are
// always busy. Baseline: the same number of goroutines starting
// `/bin/sh -c true` back to back, measured before and after.
func benchP3(ctx context.Context, env *Env) ([]SummaryRow, error) {
	dir, err := env.subdir("p3")
	if err != nil {
		return nil, err
	}
	w := env.P3Workers
	raw1 := rawSpawnRate(ctx, w, env.P3Duration)
	logf("P3: raw sh -c true × %d: %.0f/s", w, raw1)

	fk, err := startFakes(env.FakeBin, fakeengine.Options{Engines: 4, Containers: 50})
	if err != nil {
		return nil, err
	}
	defer fk.Close()
	cfg := clusterYAML(fk.URLs()) + `events:
  - name: all
    type: "*"
    command: "true"
`
	d, err := startDaemon(dir, env.DaemonBin, daemonOptions{Config: cfg, Workers: w})
	if err != nil {
		return nil, err
	}
	if _, err := d.waitLog(`"msg":"Engine in sync"`, 4, 60*time.Second); err != nil {
		d.Stop()
		return nil, err
	}
	ok := newTail(d.Log, `"msg":"Handler succeeded"`)
	warm := 2 * env.Settle
	// The offer must stay above what the handlers can take, or it, not the
	// daemon, sets the rate measured; but every event offered beyond it is
	// ingested and queued, work the baseline does not do. 1.25 times the raw
	// rate (which the daemon cannot beat) unless -p3-rate says.
	rate := env.P3Rate
	if rate <= 0 {
		rate = max(1.25*raw1, 100)
	}
	if err := fk.StartLoad(fakeengine.LoadOptions{Rate: rate, Mix: fakeengine.Mix{Kill: 1}, Duration: warm + env.P3Duration + time.Second}); err != nil {
		d.Stop()
		return nil, err
	}
	time.Sleep(warm)
	stopProfile := func() {}
	if env.CPUProfile != "" && d.InProcess() {
		if f, err := os.Create(filepath.Join(dir, "cpu.pprof")); err == nil {
			_ = pprof.StartCPUProfile(f)
			stopProfile = func() { pprof.StopCPUProfile(); f.Close() }
		}
	}
	c0, t0 := ok.count(), time.Now()
	mb0, mt0 := machineBusy()
	dc0, fc0 := cpuTime(d.Pid()), cpuTime(fk.Pid())
	time.Sleep(env.P3Duration)
	c1, t1 := ok.count(), time.Now()
	busy := busySince(mb0, mt0)
	dcpu := (cpuTime(d.Pid()) - dc0).Seconds() / t1.Sub(t0).Seconds()
	fcpu := (cpuTime(fk.Pid()) - fc0).Seconds() / t1.Sub(t0).Seconds()
	if fk.Pid() == d.Pid() {
		fcpu = 0
	}
	logf("P3: daemon run: machine %.0f%% busy; daemon %.2f cores, fakes %.2f cores", 100*busy, dcpu, fcpu)
	stopProfile()
	st, _ := fk.Stats()
	_ = fk.StopLoad()
	_ = d.Stop()
	got := float64(c1-c0) / t1.Sub(t0).Seconds()
	logf("P3: daemon: %.0f handlers/s", got)

	raw2 := rawSpawnRate(ctx, w, env.P3Duration)
	logf("P3: raw again: %.0f/s", raw2)
	raw := (raw1 + raw2) / 2
	ratio := got / raw
	durs := handlerDurations(d.Log)
	env.table(fmt.Sprintf("P3 handler throughput: rule `type: \"*\"`, `command: true`, --workers %d (daemon %s)", w, d.kind()), [][]string{
		{"", "handlers/s"},
		{"baseline: `sh -c true` × " + fmt.Sprint(w) + ", before", fmt.Sprintf("%.0f", raw1)},
		{"docker-eventsd, offered " + fmt.Sprintf("%.0f", rate) + " events/s", fmt.Sprintf("%.0f", got)},
		{"baseline: `sh -c true` × " + fmt.Sprint(w) + ", after", fmt.Sprintf("%.0f", raw2)},
		{"events dropped by the 100 ms rule", fmt.Sprint(st.Dropped)},
		{"daemon: handler run time (Runner.Run) mean / p50 / p99", fmt.Sprintf("%s / %s / %s",
			ms(mean(durs)), ms(percentile(durs, .5)), ms(percentile(durs, .99)))},
		{"CPU during the daemon's run: machine busy / daemon process (not its handlers) / fake engines",
			fmt.Sprintf("%.0f%% / %.2f cores / %.2f cores", 100*busy, dcpu, fcpu)},
	})
	return []SummaryRow{{ID: "P3", Metric: "handler throughput", Measured: fmt.Sprintf("%.0f/s", got),
		Baseline: fmt.Sprintf("%.0f/s", raw), Ratio: ratio, Target: "≥ 0.9× raw", Met: verdict(ratio >= 0.9, "")}}, nil
}

// rawSpawnRate runs /bin/sh -c true from w goroutines for d and returns the
// rate.
func rawSpawnRate(ctx context.Context, w int, d time.Duration) float64 {
	b0, t0 := machineBusy()
	c0, start0 := cpuTime(os.Getpid()), time.Now()
	defer func() {
		logf("P3: raw run: machine %.0f%% busy, the spawning process %.2f cores", 100*busySince(b0, t0),
			(cpuTime(os.Getpid())-c0).Seconds()/time.Since(start0).Seconds())
	}()
	var n atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	deadline := start.Add(d)
	for range w {
		wg.Go(func() {
			for time.Now().Before(deadline) && ctx.Err() == nil {
				if exec.Command("/bin/sh", "-c", "true").Run() == nil {
					n.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / time.Since(start).Seconds()
}

// handlerDurations reads the duration of every "Handler succeeded" line.
func handlerDurations(log string) []time.Duration {
	lines, _ := grepLines(log, `"msg":"Handler succeeded"`)
	var out []time.Duration
	for _, l := range lines {
		var v struct{ Duration float64 }
		if json.Unmarshal([]byte(l), &v) == nil {
			out = append(out, time.Duration(v.Duration*float64(time.Second)))
		}
	}
	return sortDurations(out)
}

func mean(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	var sum time.Duration
	for _, d := range ds {
		sum += d
	}
	return sum / time.Duration(len(ds))
}
