package bench

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"

	"github.com/samalba/docker-eventsd/config"
	eventsd "github.com/samalba/docker-eventsd/daemon"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/internal/fakeengine"
)

// P6: hot reload. Many fake engines under load; the daemon, in process,
// reloads its config file (Daemon.Reload, what SIGHUP calls) with one
// engine changed (its labels: it reconnects, from its replay point) and one
// rule changed (its command). Measured: the time Reload takes to apply, the
// changed engine's time back in sync, the streams and lists the other
// engines served meanwhile (reconnects), and the events lost (emitted by the
// fakes, never handed on). Baseline: a reload of the same file, which
// changes nothing, in the same run.

// p6Mix is the load of P6: only actions every informer streams, so that
// each event emitted must reach the daemon.
var p6Mix = fakeengine.Mix{Start: 1, Die: 1, Kill: 4, Health: 2}

// p6Config renders the config of P6's trial: the changed engine's label
// and the changed rule's command carry version.
func p6Config(urls []string, changed int, version string) string {
	var b strings.Builder
	b.WriteString("cluster:\n")
	for i, u := range urls {
		if i == changed {
			fmt.Fprintf(&b, "  e%d:\n    url: %s\n    labels: {version: %q}\n", i, u, version)
			continue
		}
		fmt.Fprintf(&b, "  e%d: %s\n", i, u)
	}
	// Rules that match little: the reload, not the handlers, is measured.
	fmt.Fprintf(&b, `events:
  - name: died
    type: die
    from_engine: e0
    command: "true # %s"
  - name: killed
    type: kill
    from_engine: e1
    command: "true"
`, version)
	return b.String()
}

// eventKeys counts the distinct events handed on, by engine, time, actor
// and action (their FNV-64a hash: the bench's own heap stays small): a
// replayed event counts once.
type eventKeys struct {
	mu   sync.Mutex
	seen map[uint64]struct{}
}

func (k *eventKeys) Handle(ev *informer.Event) {
	if ev.Synthetic || ev.Type != informer.TypeContainer {
		return
	}
	h := fnv.New64a()
	fmt.Fprintf(h, "%s/%d/%s/%s", ev.Engine, ev.Time.UnixNano(), ev.ActorID, ev.Action)
	key := h.Sum64()
	k.mu.Lock()
	k.seen[key] = struct{}{}
	k.mu.Unlock()
}

func (k *eventKeys) len() int64 {
	k.mu.Lock()
	defer k.mu.Unlock()
	return int64(len(k.seen))
}

// p6Requests returns the event streams and lists every engine but skip
// served so far.
func p6Requests(fk fakes, skip int) (streams, lists int64, err error) {
	all, err := fk.Stats()
	if err != nil {
		return 0, 0, err
	}
	es, ok := fk.(interface {
		EngineStats(int) (fakeengine.Stats, error)
	})
	if !ok {
		return 0, 0, errors.New("the fake engines give no counters per engine")
	}
	one, err := es.EngineStats(skip)
	if err != nil {
		return 0, 0, err
	}
	return all.Requests["events"] - one.Requests["events"], all.Requests["list"] - one.Requests["list"], nil
}

func benchP6(ctx context.Context, env *Env) ([]SummaryRow, error) {
	dir, err := env.subdir("p6")
	if err != nil {
		return nil, err
	}
	n := env.P6Engines
	fk, err := startFakes(env.FakeBin, fakeengine.Options{Engines: n, Containers: 10})
	if err != nil {
		return nil, err
	}
	defer fk.Close()
	urls := fk.URLs()
	changed := n / 2
	file := filepath.Join(dir, "events.yml")
	write := func(version string) error {
		return os.WriteFile(file, []byte(p6Config(urls, changed, version)), 0o644)
	}
	if err := write("v0"); err != nil {
		return nil, err
	}
	cfg, err := config.Load(file)
	if err != nil {
		return nil, err
	}
	z, err := newZap(filepath.Join(dir, "daemon.log"), 0, "")
	if err != nil {
		return nil, err
	}
	defer func() { _ = z.Sync() }()
	log := zapr.NewLogger(z)
	keys := &eventKeys{seen: map[uint64]struct{}{}}
	d, err := eventsd.New(eventsd.Options{Config: cfg, Workers: 4, Environ: os.Environ(), Logger: log, Observe: keys, ShutdownTimeout: -1})
	if err != nil {
		return nil, err
	}
	runCtx, cancel := context.WithCancel(logr.NewContext(ctx, log))
	done := make(chan error, 1)
	go func() { done <- d.Run(runCtx) }()
	defer func() {
		cancel()
		<-done
	}()
	synced := func(name string, timeout time.Duration) error {
		inf := d.Informer(name)
		if inf == nil {
			return fmt.Errorf("engine %s not registered", name)
		}
		select {
		case <-inf.Synced():
			return nil
		case <-time.After(timeout):
			return fmt.Errorf("engine %s not in sync after %v", name, timeout)
		}
	}
	for i := range n {
		if err := synced(fmt.Sprintf("e%d", i), 2*time.Minute); err != nil {
			return nil, err
		}
	}
	logf("P6: %d engines in sync; load %.0f events/s", n, env.P6Rate)
	// Ticks of 100 ms: 1,000 engines ticking every 10 ms would be the
	// fakes' load, not the daemon's.
	if err := fk.StartLoad(fakeengine.LoadOptions{Rate: env.P6Rate, Mix: p6Mix, Tick: 100 * time.Millisecond}); err != nil {
		return nil, err
	}
	defer func() { _ = fk.StopLoad() }()
	time.Sleep(2 * env.Settle)

	streams0, lists0, err := p6Requests(fk, changed)
	if err != nil {
		return nil, err
	}
	var base, applied, resynced, parsed []time.Duration
	for trial := range env.P6Trials {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		// What the machine gives a parse of the file, alone, now.
		start := time.Now()
		if _, err := config.Load(file); err != nil {
			return nil, err
		}
		parsed = append(parsed, time.Since(start))
		// The baseline: the same file again.
		start = time.Now()
		r, err := d.Reload()
		if err != nil {
			return nil, err
		}
		base = append(base, time.Since(start))
		if !r.Engines.Empty() || !r.Rules.Empty() {
			return nil, fmt.Errorf("a reload of the same file changed %+v", r)
		}
		// One engine and one rule changed.
		version := fmt.Sprintf("v%d", trial+1)
		if err := write(version); err != nil {
			return nil, err
		}
		start = time.Now()
		r, err = d.Reload()
		if err != nil {
			return nil, err
		}
		applied = append(applied, time.Since(start))
		name := fmt.Sprintf("e%d", changed)
		if !slices.Equal(r.Engines.Replaced, []string{name}) || !slices.Equal(r.Rules.Changed, []string{"died"}) || r.Restarted {
			return nil, fmt.Errorf("reload %s: %+v, want engine %s and rule died changed", version, r, name)
		}
		if err := synced(name, 30*time.Second); err != nil {
			return nil, err
		}
		resynced = append(resynced, time.Since(start))
		time.Sleep(env.Settle / 2)
	}
	time.Sleep(env.Settle)
	streams1, lists1, err := p6Requests(fk, changed)
	if err != nil {
		return nil, err
	}
	if err := fk.StopLoad(); err != nil {
		return nil, err
	}

	// Every event the fakes emitted reaches the daemon (replays count once).
	st, err := fk.Stats()
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(30 * time.Second)
	for keys.len() < st.Emitted && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	lost := st.Emitted - keys.len()
	if lost < 0 {
		return nil, errors.New("more distinct events handed on than emitted: the count is wrong")
	}
	reconnects, relists := streams1-streams0, lists1-lists0

	base, applied, resynced, parsed = sortDurations(base), sortDurations(applied), sortDurations(resynced), sortDurations(parsed)
	med := func(ds []time.Duration) time.Duration { return percentile(ds, 0.5) }
	p90 := func(ds []time.Duration) time.Duration { return percentile(ds, 0.9) }
	top := func(ds []time.Duration) time.Duration { return ds[len(ds)-1] }
	logf("P6: reload applied in %v (max %v), baseline %v; changed engine in sync %v; %d reconnects, %d relists of the others; %d of %d events lost",
		med(applied), top(applied), med(base), med(resynced), reconnects, relists, lost, st.Emitted)
	fakesWhere := "in the bench's process"
	if env.FakeBin != "" {
		fakesWhere = "in a process of their own"
	}
	env.table(fmt.Sprintf("P6 hot reload: %d fake engines (%s) at %.0f events/s, %d reloads changing 1 engine and 1 rule (daemon in process, Reload as SIGHUP calls it)", n, fakesWhere, env.P6Rate, env.P6Trials), [][]string{
		{"", "reload applied: median", "p90", "worst", "changed engine back in sync (median)", "streams + lists of the other engines", "events emitted", "lost", "dropped by the fakes (100 ms rule)"},
		{"1 engine + 1 rule changed", ms(med(applied)), ms(p90(applied)), ms(top(applied)), ms(med(resynced)), fmt.Sprintf("%d + %d", reconnects, relists), fmt.Sprint(st.Emitted), fmt.Sprint(lost), fmt.Sprint(st.Dropped)},
		{"baseline: the same file again", ms(med(base)), ms(p90(base)), ms(top(base)), "", "", "", "", ""},
		{"the file parsed and validated alone (config.Load)", ms(med(parsed)), ms(p90(parsed)), ms(top(parsed)), "", "", "", "", ""},
	})
	return []SummaryRow{
		{ID: "P6", Metric: fmt.Sprintf("reload applied, %d engines, 1 engine + 1 rule changed", n), Measured: fmt.Sprintf("%s (p90 %s, worst %s)", ms(med(applied)), ms(p90(applied)), ms(top(applied))),
			Baseline: fmt.Sprintf("%s (p90 %s, worst %s)", ms(med(base)), ms(p90(base)), ms(top(base))),
			Ratio:    float64(med(applied)) / float64(max(med(base), time.Microsecond)), Target: "≤ 100 ms", Met: verdict(med(applied) <= 100*time.Millisecond, "fake engines, in process")},
		{ID: "P6", Metric: fmt.Sprintf("reconnects + relists of the %d others", n-1), Measured: fmt.Sprint(reconnects + relists), Target: "0", Met: verdict(reconnects+relists == 0, "fake engines, in process")},
		{ID: "P6", Metric: fmt.Sprintf("events lost at %.0f/s", env.P6Rate), Measured: fmt.Sprintf("%d of %d", lost, st.Emitted), Target: "0", Met: verdict(lost == 0 && st.Dropped == 0, "fake engines, in process")},
	}, nil
}
