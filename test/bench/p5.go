package bench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/internal/faultproxy"
)

// P5: recovery. The daemon watches one engine through a proxy of the bench's.
//
// Restart: the engine is killed (every process, as when its host dies) and
// started again. Measured: from the first ping the engine answers (seen by
// the proxy: the engine's first answer on a connection opened after the
// kill, which is the session's ping, faultproxy.FirstReply) to the handlers of the transitions missed while it was down
// (the die of each container that was running, replayed or synthesized) and
// of engine_up. Baseline: the daemon's own time from that ping to
// "Engine in sync" is not a baseline; the bench compares against the
// session's fixed costs instead: one list of the engine and the informer's
// 150 ms settle, both measured (see the table).
//
// Blackhole: the proxy stops answering (faultproxy.Stall: connections
// accepted, nothing returned, bytes held until the cut ends). Measured: from the cut to the engine_down handler. Target:
// within the heartbeat interval + 1 s.
func benchP5(ctx context.Context, env *Env) ([]SummaryRow, error) {
	dir, err := env.subdir("p5")
	if err != nil {
		return nil, err
	}
	url, image, where := env.realOrFake("p5")
	cli, err := engineClient(ctx, url)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	px, err := faultproxy.Open(url)
	if err != nil {
		return nil, err
	}
	defer px.Close()
	stampCmd, stampEnv, _ := stampTool(dir)
	names := []string{}
	for i := range 3 {
		names = append(names, fmt.Sprintf("bench-p5-%d-%d", os.Getpid(), i))
	}
	for _, n := range names {
		if _, err := runContainer(ctx, cli, n, image, trapCmd); err != nil {
			return nil, err
		}
	}
	defer removeContainers(cli, names...)

	cfg := fmt.Sprintf(`cluster:
  bench: %s
events:
  - name: p5
    type: [start, die, engine_down, engine_up]
    command: exec %s
`, px.URL(), stampCmd)
	stamps := filepath.Join(dir, "restart.stamps")
	d, err := startDaemon(filepath.Join(dir), env.DaemonBin, daemonOptions{
		Config: cfg, Env: append([]string{"STAMP_FILE=" + stamps, "STAMP_TAG=restart"}, stampEnv...),
	})
	if err != nil {
		return nil, err
	}
	if _, err := d.waitLog(`"msg":"Engine in sync"`, 1, 30*time.Second); err != nil {
		d.Stop()
		return nil, err
	}

	// Restart trials.
	var toDie, toUp, listCost []time.Duration
	for trial := 0; trial < env.P5Trials && ctx.Err() == nil; trial++ {
		tDie, tUp, err := p5Restart(ctx, env, cli, px, names, stamps)
		if err != nil {
			d.Stop()
			return nil, fmt.Errorf("restart trial %d: %w", trial+1, err)
		}
		toDie, toUp = append(toDie, tDie), append(toUp, tUp)
		// The fixed cost of a relist: one ContainerList through the proxy.
		pc, err := engineClient(ctx, px.URL())
		if err == nil {
			t := time.Now()
			_, _ = pc.ContainerList(ctx, client.ContainerListOptions{All: true})
			listCost = append(listCost, time.Since(t))
			pc.Close()
		}
		logf("P5: restart trial %d: first ping → last die handler %v, → engine_up handler %v", trial+1, tDie, tUp)
	}
	_ = d.Stop()

	// Blackhole trials, with the default heartbeat timeout and with 1 s.
	type hbConf struct {
		interval, timeout time.Duration
	}
	confs := []hbConf{{env.P5Heartbeat, 2 * time.Second}, {env.P5Heartbeat, time.Second}}
	if env.P5Heartbeat < time.Second {
		confs = []hbConf{{env.P5Heartbeat, env.P5Heartbeat}}
	}
	holeRows := [][]string{{"--heartbeat", "--heartbeat-timeout", "trials", "cut → engine_down handler (each)", "worst", "target (interval + 1 s)", "met"}}
	var summary []SummaryRow
	for ci, hc := range confs {
		hstamps := filepath.Join(dir, fmt.Sprintf("hole-%d.stamps", ci))
		hd, err := startDaemon(filepath.Join(dir), env.DaemonBin, daemonOptions{
			Config: cfg, Env: append([]string{"STAMP_FILE=" + hstamps, "STAMP_TAG=hole"}, stampEnv...),
			Flags: []string{"--heartbeat", hc.interval.String(), "--heartbeat-timeout", hc.timeout.String(), "--max-backoff", "1s"},
		})
		if err != nil {
			return nil, err
		}
		if _, err := hd.waitLog(`"msg":"Engine in sync"`, 1, 30*time.Second); err != nil {
			hd.Stop()
			return nil, err
		}
		var took []time.Duration
		rng := rand.New(rand.NewPCG(uint64(ci), 7))
		for trial := 0; trial < env.P5Trials && ctx.Err() == nil; trial++ {
			// A random phase against the heartbeat ticker.
			time.Sleep(time.Duration(rng.Int64N(int64(hc.interval))))
			n0, _ := readStamps(hstamps)
			cut := time.Now()
			px.Set(faultproxy.Stall)
			down, err := waitStamps(hstamps, 1, func(s stamp) bool { return s.Action == "engine_down" && s.At.After(cut) }, hc.interval+hc.timeout+30*time.Second)
			px.Set(faultproxy.Pass)
			if err != nil {
				hd.Stop()
				return nil, err
			}
			took = append(took, down[0].At.Sub(cut))
			if _, err := waitStamps(hstamps, 1, func(s stamp) bool { return s.Action == "engine_up" && s.At.After(cut) }, 60*time.Second); err != nil {
				hd.Stop()
				return nil, err
			}
			_ = n0
		}
		_ = hd.Stop()
		worst := percentile(sortDurations(append([]time.Duration(nil), took...)), 1)
		target := hc.interval + time.Second
		each := []string{}
		for _, t := range took {
			each = append(each, ms(t))
		}
		holeRows = append(holeRows, []string{hc.interval.String(), hc.timeout.String(), fmt.Sprint(len(took)),
			strings.Join(each, ", "), ms(worst), ms(target), verdict(worst <= target, where)})
		summary = append(summary, SummaryRow{ID: "P5", Metric: fmt.Sprintf("blackhole → engine_down (heartbeat %v, timeout %v), worst", hc.interval, hc.timeout),
			Measured: ms(worst), Baseline: "heartbeat interval " + hc.interval.String(), Target: "≤ interval + 1 s", Met: verdict(worst <= target, where)})
	}

	worstDie := percentile(sortDurations(append([]time.Duration(nil), toDie...)), 1)
	worstUp := percentile(sortDurations(append([]time.Duration(nil), toUp...)), 1)
	lc := percentile(sortDurations(listCost), .5)
	each := func(ds []time.Duration) string {
		var s []string
		for _, d := range ds {
			s = append(s, ms(d))
		}
		return strings.Join(s, ", ")
	}
	env.table("P5 recovery: engine killed and started again ("+where+", daemon "+d.kind()+")", [][]string{
		{"", "each trial", "worst", "target"},
		{"first answered ping → last missed die handled", each(toDie), ms(worstDie), "≤ 1 s"},
		{"first answered ping → engine_up handled", each(toUp), ms(worstUp), ""},
		{"fixed costs inside: settle + one list", fmt.Sprintf("150 ms + %s", ms(lc)), "", ""},
	})
	env.table("P5 recovery: blackholed engine ("+where+")", holeRows)
	rows := []SummaryRow{
		{ID: "P5", Metric: "restart: first ping → transitions dispatched, worst", Measured: ms(worstDie),
			Baseline: fmt.Sprintf("settle 150 ms + list %s", ms(lc)), Target: "≤ 1 s", Met: verdict(worstDie <= time.Second, where)},
	}
	return append(rows, summary...), nil
}

// p5Restart runs one restart trial: containers running, engine killed and
// started again; returns first ping → last die handler and → engine_up
// handler.
func p5Restart(ctx context.Context, env *Env, cli *client.Client, px *faultproxy.Proxy, names []string, stamps string) (time.Duration, time.Duration, error) {
	begin := time.Now()
	for _, n := range names {
		_, _ = cli.ContainerStart(ctx, n, client.ContainerStartOptions{})
	}
	// The daemon knows them running: it saw their start, or they never stopped.
	time.Sleep(env.Settle)
	after := func(action string) func(stamp) bool {
		return func(s stamp) bool { return s.Action == action && s.At.After(begin) }
	}
	if env.Engine != "" {
		if err := engineCtl(env, "kill"); err != nil {
			return 0, 0, err
		}
	} else {
		_ = env.fakeForEngine.Fault(0, "refuse")
		_ = env.fakeForEngine.Fault(0, "crash")
	}
	// The engine is dead: from now on, the first answered ping is its
	// return.
	px.Mark()
	mark := time.Now()
	if _, err := waitStamps(stamps, 1, after("engine_down"), 60*time.Second); err != nil {
		return 0, 0, err
	}
	if env.Engine != "" {
		if err := engineCtl(env, "start"); err != nil {
			return 0, 0, err
		}
	} else {
		time.Sleep(500 * time.Millisecond)
		_ = env.fakeForEngine.Fault(0, "none")
	}
	up, err := waitStamps(stamps, 1, after("engine_up"), 90*time.Second)
	if err != nil {
		return 0, 0, err
	}
	dies, err := waitStamps(stamps, len(names), func(s stamp) bool {
		return s.Action == "die" && s.At.After(mark) && strings.HasPrefix(s.Container, "bench-p5-")
	}, 30*time.Second)
	if err != nil {
		return 0, 0, err
	}
	first := px.FirstReply()
	if first.IsZero() {
		return 0, 0, fmt.Errorf("the proxy saw no answered ping")
	}
	last := dies[0].At
	for _, s := range dies {
		if s.At.After(last) {
			last = s.At
		}
	}
	return last.Sub(first), up[0].At.Sub(first), nil
}

// engineCtl runs hack/engines.sh VERB NAME.
func engineCtl(env *Env, verb string) error {
	if env.EngineCtl == "" || env.EngineName == "" {
		return fmt.Errorf("P5 on a real engine needs -enginectl and -engine-name")
	}
	out, err := exec.Command(env.EngineCtl, verb, env.EngineName).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s %s: %w: %s", env.EngineCtl, verb, env.EngineName, err, out)
	}
	return nil
}
