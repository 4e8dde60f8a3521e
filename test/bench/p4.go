package bench

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sync"
	"time"

	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/internal/fakeengine"
)

// P4: scale. Many fake engines with many containers each: the time from the
// daemon's start to every informer in sync (pinged, subscribed, listed), and
// the daemon's resident memory. Baseline: the bench's own plain clients doing
// the same ping, subscribe and list for every engine at once.
func benchP4(ctx context.Context, env *Env) ([]SummaryRow, error) {
	dir, err := env.subdir("p4")
	if err != nil {
		return nil, err
	}
	n := env.P4Engines
	fk, err := startFakes(env.FakeBin, fakeengine.Options{Engines: n, Containers: env.P4Containers})
	if err != nil {
		return nil, err
	}
	defer fk.Close()

	cfg := clusterYAML(fk.URLs()) + `events:
  - name: died
    type: die
    command: "true"
`
	d, err := startDaemon(dir, env.DaemonBin, daemonOptions{Config: cfg, ProcEnv: env.ProcEnv, LogMode: env.LogMode, Verbosity: env.Verbosity})
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	at, err := d.waitLog(`"msg":"Engine in sync"`, n, 120*time.Second)
	if err != nil {
		return nil, err
	}
	synced := at.Sub(d.Started)
	rss, _, _ := procStatus(d.Pid())
	cpu := cpuTime(d.Pid()) - d.cpu0
	time.Sleep(5 * env.Settle) // heartbeats, steady state
	rss2, hwm, _ := procStatus(d.Pid())
	st, _ := fk.Stats()
	logf("P4: synced in %v, RSS %s (peak %s)", synced, mib(rss), mib(hwm))
	heap := ""
	if d.InProcess() {
		var m runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&m)
		heap = fmt.Sprintf(", live heap after GC %s, stacks %s, %d goroutines, heap from OS %s",
			mib(int64(m.HeapAlloc)), mib(int64(m.StackInuse)), runtime.NumGoroutine(), mib(int64(m.HeapSys-m.HeapReleased)))
		if f, err := os.Create(filepath.Join(dir, "heap.pprof")); err == nil {
			_ = pprof.WriteHeapProfile(f)
			f.Close()
		}
	}
	_ = d.Stop()

	// The baseline runs after the daemon (in process, its garbage would
	// count in the daemon's RSS otherwise).
	base, baseHeap, err := rawSync(ctx, fk.URLs())
	if err != nil {
		return nil, err
	}
	logf("P4: baseline: %d engines pinged, subscribed and listed in %v%s", n, base, heap)

	note := ""
	if d.InProcess() {
		note = " (in process: RSS includes the bench)"
	}
	env.table(fmt.Sprintf("P4 scale: %d fake engines × %d containers (daemon %s%s)", n, env.P4Containers, d.kind(), env.variant()), [][]string{
		{"", "time to all in sync", "RSS at sync", "RSS " + (5 * env.Settle).String() + " later", "peak RSS (VmHWM)", "CPU until sync", "streams open"},
		{"docker-eventsd" + note + heap, ms(synced), mib(rss), mib(rss2), mib(hwm), ms(cpu), fmt.Sprint(st.Subscribers)},
		{"baseline: plain clients, all at once", ms(base), fmt.Sprintf("heap held %s", mib(baseHeap)), "", "", "", ""},
	})
	where := ""
	if d.InProcess() {
		where = "in process"
	}
	return []SummaryRow{
		{ID: "P4", Metric: fmt.Sprintf("time to sync %d×%d", n, env.P4Containers), Measured: ms(synced), Baseline: ms(base),
			Ratio: float64(synced) / float64(base), Target: "≤ 3 s", Met: verdict(synced <= 3*time.Second, where)},
		{ID: "P4", Metric: "resident memory (peak)", Measured: mib(hwm), Baseline: "", Target: "≤ 200 MiB", Met: verdict(hwm <= 200<<20, where)},
	}, nil
}

// rawSync pings, subscribes to and lists every engine at once with plain
// clients, and returns how long it took and the heap it held.
func rawSync(ctx context.Context, urls []string) (time.Duration, int64, error) {
	runtime.GC()
	var m0, m1 runtime.MemStats
	runtime.ReadMemStats(&m0)
	cctx, cancel := context.WithCancel(ctx)
	defer cancel()
	start := time.Now()
	var wg sync.WaitGroup
	errs := make(chan error, len(urls))
	held := make([]any, len(urls))
	clis := make([]*client.Client, len(urls))
	for i, u := range urls {
		wg.Go(func() {
			c, err := engineClient(cctx, u)
			if err != nil {
				errs <- err
				return
			}
			clis[i] = c
			stream := c.Events(cctx, client.EventsListOptions{Filters: client.Filters{}.Add("type", "container")})
			l, err := c.ContainerList(cctx, client.ContainerListOptions{All: true})
			if err != nil {
				errs <- err
				return
			}
			held[i] = []any{stream, l}
		})
	}
	wg.Wait()
	took := time.Since(start)
	runtime.ReadMemStats(&m1)
	runtime.KeepAlive(held)
	cancel()
	for _, c := range clis {
		if c != nil {
			c.Close()
		}
	}
	select {
	case err := <-errs:
		return 0, 0, err
	default:
	}
	return took, int64(m1.HeapInuse) - int64(m0.HeapInuse), nil
}
