package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"time"

	"github.com/moby/moby/client"
)

// P1: dispatch latency. One engine, two containers that ignore SIGUSR1. The
// bench sends `kill -s USR1` to them in turn: the daemon runs its handler for
// the first, a minimal baseline subscriber (no queue: sh -c on receipt) for
// the second. Both handlers are `exec STAMP`, which records the event's time
// and its own clock. Latency = handler clock - event TimeNano.
func benchP1(ctx context.Context, env *Env) ([]SummaryRow, error) {
	n := env.P1Events
	dir, err := env.subdir("p1")
	if err != nil {
		return nil, err
	}
	url, image, where := env.realOrFake("p1")
	cli, err := engineClient(ctx, url)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	stampCmd, stampEnv, stampDesc := stampTool(dir)
	nameD, nameB := fmt.Sprintf("bench-p1-daemon-%d", os.Getpid()), fmt.Sprintf("bench-p1-base-%d", os.Getpid())
	if _, err := runContainer(ctx, cli, nameD, image, trapCmd); err != nil {
		return nil, err
	}
	if _, err := runContainer(ctx, cli, nameB, image, trapCmd); err != nil {
		return nil, err
	}
	defer removeContainers(cli, nameD, nameB)

	cfg := fmt.Sprintf(`cluster:
  bench: %s
events:
  - name: p1
    type: kill
    from_container: %s
    command: exec %s
`, url, nameD, stampCmd)
	dstamps := filepath.Join(dir, "daemon.stamps")
	d, err := startDaemon(dir, env.DaemonBin, daemonOptions{
		Config: cfg,
		Env:    append([]string{"STAMP_FILE=" + dstamps, "STAMP_TAG=daemon"}, stampEnv...),
	})
	if err != nil {
		return nil, err
	}
	defer d.Stop()
	if _, err := d.waitLog(`"msg":"Engine in sync"`, 1, 30*time.Second); err != nil {
		return nil, err
	}

	// The baseline: subscribe, and on each event start sh -c at once.
	bstamps := filepath.Join(dir, "base.stamps")
	bctx, bcancel := context.WithCancel(ctx)
	defer bcancel()
	baseEnv := append(os.Environ(), append([]string{"STAMP_FILE=" + bstamps, "STAMP_TAG=base"}, stampEnv...)...)
	var spawnMu sync.Mutex
	spawn := map[string]time.Time{} // EVENT_TIME -> when cmd.Start was called
	stream := cli.Events(bctx, client.EventsListOptions{Filters: client.Filters{}.
		Add("type", "container").Add("event", "kill").Add("container", nameB)})
	subscribed := make(chan struct{})
	go func() {
		close(subscribed)
		for {
			select {
			case m := <-stream.Messages:
				et := time.Unix(0, m.TimeNano).UTC().Format(time.RFC3339Nano)
				cmd := exec.Command("/bin/sh", "-c", "exec "+stampCmd)
				cmd.Env = append(baseEnv, "EVENT_TIME="+et, "EVENT_ACTION="+string(m.Action), "FROM_CONTAINER="+nameB)
				t := time.Now()
				if err := cmd.Start(); err == nil {
					go func() { _ = cmd.Wait() }()
				}
				spawnMu.Lock()
				spawn[et] = t
				spawnMu.Unlock()
			case <-stream.Err:
				return
			case <-bctx.Done():
				return
			}
		}
	}()
	<-subscribed
	time.Sleep(200 * time.Millisecond)

	kill := func(name string) error {
		_, err := cli.ContainerKill(ctx, name, client.ContainerKillOptions{Signal: "USR1"})
		return err
	}
	rng := rand.New(rand.NewPCG(1, 2))
	warm := min(10, n)
	total := warm + n
	logf("P1: %d kills per side on %s (%s), %s", total, url, where, stampDesc)
	for i := 0; i < 2*total; i++ {
		target := nameD
		if i%2 == 1 {
			target = nameB
		}
		if err := kill(target); err != nil {
			return nil, fmt.Errorf("kill %s: %w", target, err)
		}
		time.Sleep(env.P1Gap + time.Duration(rng.Int64N(int64(env.P1Gap/2)+1)))
	}
	isKill := func(s stamp) bool { return s.Action == "kill" }
	ds, err := waitStamps(dstamps, total, isKill, 30*time.Second)
	if err != nil {
		return nil, err
	}
	bs, err := waitStamps(bstamps, total, isKill, 30*time.Second)
	if err != nil {
		return nil, err
	}
	lat := func(ss []stamp) []time.Duration {
		var out []time.Duration
		for _, s := range ss[warm:] {
			out = append(out, s.Latency())
		}
		return sortDurations(out)
	}
	dl, bl := lat(ds), lat(bs)
	var spawnCost []time.Duration
	spawnMu.Lock()
	for _, s := range bs[warm:] {
		if t, ok := spawn[s.EventTime.UTC().Format(time.RFC3339Nano)]; ok {
			spawnCost = append(spawnCost, s.At.Sub(t))
		}
	}
	spawnMu.Unlock()
	spawnCost = sortDurations(spawnCost)

	q := func(ds []time.Duration, p float64) time.Duration { return percentile(ds, p) }
	table := [][]string{
		{"", "events", "p50", "p90", "p99", "max"},
		{"docker-eventsd (" + d.kind() + ")", fmt.Sprint(len(dl)), ms(q(dl, .5)), ms(q(dl, .9)), ms(q(dl, .99)), ms(q(dl, 1))},
		{"baseline: sh -c on receipt", fmt.Sprint(len(bl)), ms(q(bl, .5)), ms(q(bl, .9)), ms(q(bl, .99)), ms(q(bl, 1))},
		{"of which spawn (Start() to stamp)", fmt.Sprint(len(spawnCost)), ms(q(spawnCost, .5)), ms(q(spawnCost, .9)), ms(q(spawnCost, .99)), ms(q(spawnCost, 1))},
	}
	env.table("P1 dispatch latency: event TimeNano to handler process running ("+where+", "+stampDesc+")", table)
	r50 := float64(q(dl, .5)) / float64(q(bl, .5))
	r99 := float64(q(dl, .99)) / float64(q(bl, .99))
	return []SummaryRow{
		{ID: "P1", Metric: "dispatch latency p50", Measured: ms(q(dl, .5)), Baseline: ms(q(bl, .5)), Ratio: r50, Target: "≤ 1.1× baseline", Met: verdict(r50 <= 1.1, where)},
		{ID: "P1", Metric: "dispatch latency p99", Measured: ms(q(dl, .99)), Baseline: ms(q(bl, .99)), Ratio: r99, Target: "≤ 1.5× baseline", Met: verdict(r99 <= 1.5, where)},
	}, nil
}
