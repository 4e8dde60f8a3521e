package controller

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller/controllertest"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/reconcile"
)

func TestEveryMatchingRuleRunsOnItsOwn(t *testing.T) {
	cfg := localConfig(
		config.Rule{Name: "on-start", Types: []string{"start"}, Action: config.Action{Command: "a", Timeout: 7 * time.Second}},
		config.Rule{Name: "on-all", Types: []string{"*"}, Action: config.Action{Command: "b"}},
		config.Rule{Name: "on-stop", Types: []string{"stop"}, Action: config.Action{Command: "c"}},
		config.Rule{Name: "web", Selector: config.Selector{FromContainer: "web*"}, Action: config.Action{Command: "d", Env: map[string]string{"X": "1"}}},
		config.Rule{Name: "log-only", Types: []string{"start"}, Action: config.Action{Log: "web started"}},
	)
	h := newHarness(t, cfg, nil, 4)
	h.start()
	h.c.Handle(start("web1", "ev1"))
	h.waitFinished(3)
	if err := h.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}

	got := map[string]reconcile.Command{}
	for _, cmd := range h.runner.Started() {
		got[env(t, cmd, "EVENTSD_RULE")] = cmd
	}
	if len(got) != 3 || got["on-start"].Script != "a" || got["on-all"].Script != "b" || got["web"].Script != "d" {
		t.Fatalf("ran %v, want on-start, on-all and web once each", got)
	}
	if cmd := got["on-start"]; cmd.Timeout != 7*time.Second || cmd.Grace != time.Second || len(cmd.Stdin) == 0 {
		t.Errorf("command = %+v, want the rule's timeout, the grace and a stdin document", cmd)
	}
	if v := env(t, got["web"], "X"); v != "1" {
		t.Errorf("X=%q in the web rule's env, want 1", v)
	}
	if _, ok := envLookup(got["on-all"], "X"); ok {
		t.Errorf("X of rule web leaked into rule on-all")
	}
	fired := h.logs.Find("Rule fired")
	if len(fired) != 1 || fired[0].Values["rule"] != "log-only" || fired[0].Values["log"] != "web started" ||
		fired[0].Values["container"] != "web1" || fired[0].Values["event"] != "ev1" {
		t.Errorf("Rule fired lines = %v, want one for log-only", fired)
	}
	if ok := h.logs.Find("Handler succeeded"); len(ok) != 3 {
		t.Errorf("%d Handler succeeded lines, want 3", len(ok))
	}
	if n := h.c.Pending(); n != 0 {
		t.Errorf("Pending() = %d, want 0", n)
	}
}

// TestUncaughtEventIsLogged checks the level of the "Uncaught event" line:
// info when the config has no rules (the daemon then logs every event, as the
// 2014 original did), debug (-v 1) when it has some.
func TestUncaughtEventIsLogged(t *testing.T) {
	tests := []struct {
		name      string
		rules     []config.Rule
		wantLevel int
	}{
		{name: "no rules: info", wantLevel: 0},
		{name: "rules: debug", rules: []config.Rule{{Types: []string{"die"}, Action: config.Action{Command: "x"}}}, wantLevel: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, localConfig(tt.rules...), nil, 1)
			h.start()
			h.c.Handle(start("web1", "ev1"))
			h.c.Handle(engineEvent("local", informer.ActionEngineDown))
			got := h.waitLog("Uncaught event", 2)
			want := []map[string]any{
				{"type": "start", "engine": "local", "url": "unix:///var/run/docker.sock", "container": "web1"},
				{"type": "engine_down", "engine": "local", "url": "unix:///var/run/docker.sock", "container": ""},
			}
			for i, w := range want {
				if got[i].Level != tt.wantLevel {
					t.Errorf("line %d: V(%d), want V(%d) (%v)", i, got[i].Level, tt.wantLevel, got[i])
				}
				for k, v := range w {
					if got[i].Values[k] != v {
						t.Errorf("line %d: %s=%v, want %v (%v)", i, k, got[i].Values[k], v, got[i])
					}
				}
			}
			if n := h.c.Pending(); n != 0 {
				t.Errorf("Pending() = %d, want 0", n)
			}
		})
	}
}

func TestEventsHandledBeforeRunWaitForTheWorkers(t *testing.T) {
	h := newHarness(t, localConfig(config.Rule{Types: []string{"start"}, Action: config.Action{Command: "x"}}), nil, 2)
	h.c.Handle(start("a", "ev1"))
	h.c.Handle(start("a", "ev2"))
	if n := h.c.Pending(); n != 2 {
		t.Fatalf("Pending() = %d before Run, want 2", n)
	}
	h.start()
	fin := h.waitFinished(2)
	if a, b := env(t, fin[0].Cmd, "EVENT_ID"), env(t, fin[1].Cmd, "EVENT_ID"); a != "ev1" || b != "ev2" {
		t.Errorf("ran %s then %s, want ev1 then ev2", a, b)
	}
}

func TestDeliveriesOfOneKeyRunInOrderUnderManyWorkers(t *testing.T) {
	const containers, events = 10, 200
	var (
		mu       sync.Mutex
		order    = map[string][]int{} // container -> event numbers in run order
		running  = map[string]bool{}
		overlaps []string
	)
	run := func(ctx context.Context, cmd reconcile.Command) (reconcile.Result, error) {
		ctr, _ := envLookup(cmd, "FROM_CONTAINER")
		id, _ := envLookup(cmd, "EVENT_ID")
		var n int
		fmt.Sscanf(id, "ev%d", &n)
		mu.Lock()
		if running[ctr] {
			overlaps = append(overlaps, id)
		}
		running[ctr] = true
		order[ctr] = append(order[ctr], n)
		mu.Unlock()
		time.Sleep(time.Duration(rand.IntN(300)) * time.Microsecond) // shuffle the workers
		mu.Lock()
		running[ctr] = false
		mu.Unlock()
		return reconcile.Result{}, nil
	}
	h := newHarness(t, localConfig(config.Rule{Types: []string{"start"}, Action: config.Action{Command: "x"}}), run, 8)
	h.start()
	for i := range events {
		h.c.Handle(start(fmt.Sprintf("c%d", i%containers), fmt.Sprintf("ev%d", i)))
	}
	h.waitFinished(events)

	mu.Lock()
	defer mu.Unlock()
	if len(overlaps) > 0 {
		t.Errorf("deliveries of one key ran at the same time: %v", overlaps)
	}
	for c := range containers {
		got := order[fmt.Sprintf("c%d", c)]
		if len(got) != events/containers || !slices.IsSorted(got) {
			t.Errorf("container c%d ran events %v, want %d in increasing order", c, got, events/containers)
		}
	}
}

func TestBlockedKeyDoesNotBlockOtherKeys(t *testing.T) {
	release := make(chan struct{})
	run := func(ctx context.Context, cmd reconcile.Command) (reconcile.Result, error) {
		if ctr, _ := envLookup(cmd, "FROM_CONTAINER"); ctr == "a" {
			return blockUntil(ctx, release)
		}
		return reconcile.Result{}, nil
	}
	h := newHarness(t, localConfig(config.Rule{Types: []string{"start"}, Action: config.Action{Command: "x"}}), run, 2)
	h.start()
	h.c.Handle(start("a", "a1"))
	h.waitStarted(1)
	h.c.Handle(start("a", "a2")) // same key: waits behind a1
	h.c.Handle(start("b", "b1"))
	h.c.Handle(start("b", "b2"))
	done := h.waitLog("Handler succeeded", 2) // b1 and b2, while a1 blocks
	for _, e := range done {
		if id := e.Values["event"]; id != "b1" && id != "b2" {
			t.Errorf("%s finished while a1 was blocked", id)
		}
	}
	if n := h.c.Pending(); n != 2 {
		t.Errorf("Pending() = %d with a1 running and a2 waiting, want 2", n)
	}
	started := h.runner.Started()
	for _, cmd := range started {
		if env(t, cmd, "EVENT_ID") == "a2" {
			t.Fatal("a2 started while a1 was running")
		}
	}
	close(release)
	fin := h.waitFinished(4)
	if a, b := env(t, fin[2].Cmd, "EVENT_ID"), env(t, fin[3].Cmd, "EVENT_ID"); a != "a1" || b != "a2" {
		t.Errorf("last runs %s, %s; want a1 then a2", a, b)
	}
}

func TestFailingHandlerIsRetriedWithBackoffUntilMaxAttempts(t *testing.T) {
	const backoff = 10 * time.Millisecond
	var (
		mu     sync.Mutex
		starts []time.Time
	)
	run := func(ctx context.Context, cmd reconcile.Command) (reconcile.Result, error) {
		mu.Lock()
		starts = append(starts, time.Now())
		mu.Unlock()
		return fail()
	}
	rule := config.Rule{
		Name:   "flaky",
		Types:  []string{"start"},
		Action: config.Action{Command: "x", Retry: config.Retry{MaxAttempts: 4, Backoff: backoff, MaxBackoff: 25 * time.Millisecond}},
	}
	h := newHarness(t, localConfig(rule), run, 2)
	h.start()
	h.c.Handle(start("a", "ev1"))
	giveUp := h.waitLog("Handler failed, giving up", 1)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}

	cmds := h.runner.Started()
	if len(cmds) != 4 {
		t.Fatalf("%d attempts, want 4", len(cmds))
	}
	for i, cmd := range cmds {
		if got := env(t, cmd, "EVENT_ATTEMPT"); got != fmt.Sprint(i+1) {
			t.Errorf("attempt %d has EVENT_ATTEMPT=%s", i+1, got)
		}
		if got := env(t, cmd, "EVENT_ID"); got != "ev1" {
			t.Errorf("attempt %d has EVENT_ID=%s, want ev1", i+1, got)
		}
	}
	// Attempt n waits min(backoff*2^(n-2), max) -20% at least.
	wantMin := []time.Duration{8 * time.Millisecond, 16 * time.Millisecond, 20 * time.Millisecond}
	for i, w := range wantMin {
		if gap := starts[i+1].Sub(starts[i]); gap < w {
			t.Errorf("attempt %d started %v after attempt %d, want at least %v", i+2, gap, i+1, w)
		}
	}
	failed := h.logs.Find("Handler failed")
	if len(failed) != 3 {
		t.Fatalf("%d Handler failed lines, want 3", len(failed))
	}
	for i, e := range failed {
		after, _ := e.Values["after"].(time.Duration)
		if e.Values["attempt"] != i+1 || e.Values["willRetry"] != true || after <= 0 || after > 25*time.Millisecond || e.Error == nil {
			t.Errorf("line %v, want attempt %d, willRetry, 0 < after <= 25ms and an error", e, i+1)
		}
	}
	g := giveUp[0]
	if g.Values["attempts"] != 4 || g.Values["exitCode"] != 3 || g.Values["stdout"] != "out" || g.Values["stderr"] != "boom" ||
		g.Values["rule"] != "flaky" || g.Values["event"] != "ev1" || g.Values["container"] != "a" || g.Values["engine"] != "local" {
		t.Errorf("give-up line %v", g)
	}
	if n := h.c.Pending(); n != 0 {
		t.Errorf("Pending() = %d after giving up, want 0", n)
	}
	if n := h.c.queue.NumRequeues(Key{Rule: 0, Engine: "local", Container: "a"}); n != 0 {
		t.Errorf("NumRequeues = %d after giving up, want 0 (forgotten)", n)
	}
}

func TestNewEventWaitsBehindHeadInBackoff(t *testing.T) {
	var (
		mu       sync.Mutex
		failures int
	)
	run := func(ctx context.Context, cmd reconcile.Command) (reconcile.Result, error) {
		mu.Lock()
		defer mu.Unlock()
		if id, _ := envLookup(cmd, "EVENT_ID"); id == "ev1" && failures < 2 {
			failures++
			return fail()
		}
		return reconcile.Result{}, nil
	}
	rule := config.Rule{
		Types:  []string{"start"},
		Action: config.Action{Command: "x", Retry: config.Retry{MaxAttempts: 3, Backoff: 30 * time.Millisecond, MaxBackoff: time.Second}},
	}
	h := newHarness(t, localConfig(rule), run, 4)
	h.start()
	h.c.Handle(start("a", "ev1"))
	h.waitFinished(1)
	h.c.Handle(start("a", "ev2")) // wakes the key early: ev1 still has its backoff to wait
	h.c.Handle(start("a", "ev3"))
	fin := h.waitFinished(5)

	var got []string
	for _, f := range fin {
		got = append(got, env(t, f.Cmd, "EVENT_ID")+"#"+env(t, f.Cmd, "EVENT_ATTEMPT"))
	}
	want := []string{"ev1#1", "ev1#2", "ev1#3", "ev2#1", "ev3#1"}
	if !slices.Equal(got, want) {
		t.Errorf("runs %v, want %v", got, want)
	}
}

func TestRetryingKeyDoesNotBlockOthers(t *testing.T) {
	run := func(ctx context.Context, cmd reconcile.Command) (reconcile.Result, error) {
		if r, _ := envLookup(cmd, "EVENTSD_RULE"); r == "failing" {
			return fail()
		}
		return reconcile.Result{}, nil
	}
	cfg := localConfig(
		config.Rule{
			Name:     "failing",
			Types:    []string{"start"},
			Selector: config.Selector{FromContainer: "a"},
			Action:   config.Action{Command: "x", Retry: config.Retry{MaxAttempts: 2, Backoff: 200 * time.Millisecond, MaxBackoff: time.Second}},
		},
		config.Rule{Name: "ok", Types: []string{"start"}, Action: config.Action{Command: "y"}},
	)
	h := newHarness(t, cfg, run, 1) // one worker: anything waiting on the retry would show
	h.start()
	h.c.Handle(start("a", "a1"))
	h.waitLog("Handler failed", 1)
	h.c.Handle(start("b", "b1"))
	fin := h.waitFinished(4)

	var got []string
	for _, f := range fin {
		got = append(got, env(t, f.Cmd, "EVENTSD_RULE")+"/"+env(t, f.Cmd, "EVENT_ID"))
	}
	// failing/a1 runs first or second (same event, other key); its retry
	// comes 160ms or more later, after ok/b1.
	if got[3] != "failing/a1" || slices.Index(got, "ok/b1") > 2 || !slices.Contains(got, "ok/a1") {
		t.Errorf("runs %v, want ok/a1 and ok/b1 before the retry of failing/a1", got)
	}
}

func TestPanicInRunIsRecoveredAndRetried(t *testing.T) {
	run := func(ctx context.Context, cmd reconcile.Command) (reconcile.Result, error) {
		if a, _ := envLookup(cmd, "EVENT_ATTEMPT"); a == "1" {
			panic("runner bug")
		}
		return reconcile.Result{Stdout: []byte("fine\n")}, nil
	}
	rule := config.Rule{Types: []string{"start"}, Action: config.Action{Command: "x", Retry: config.Retry{MaxAttempts: 2, Backoff: time.Millisecond}}}
	h := newHarness(t, localConfig(rule), run, 1)
	h.start()
	h.c.Handle(start("a", "ev1"))
	ok := h.waitLog("Handler succeeded", 1)
	if ok[0].Values["attempt"] != 2 || ok[0].Values["stdout"] != "fine" {
		t.Errorf("success line %v, want attempt 2 with stdout", ok[0])
	}
	if _, has := ok[0].Values["stderr"]; has {
		t.Errorf("success line %v has an empty stderr", ok[0])
	}
	h.waitLog("Observed a panic in a handler run", 1)
	if f := h.logs.Find("Handler failed"); len(f) != 1 || f[0].Error == nil || f[0].Values["attempt"] != 1 {
		t.Errorf("failure lines %v, want one with the panic", f)
	}
}

// envLookup returns the value of name in cmd's environment.
func envLookup(cmd reconcile.Command, name string) (string, bool) {
	return controllertest.Env(cmd, name)
}
