package controller

import (
	"context"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer/informertest"
	"github.com/samalba/docker-eventsd/reconcile"
)

func TestStateRuleDebouncesABurstOfChanges(t *testing.T) {
	const n = 50 // containers started 20ms apart: a burst of 980ms
	tests := []struct {
		name     string
		maxDelay time.Duration
		// wantAt are the offsets from the first start of the runs of the
		// burst; the last one sees all n containers.
		wantAt []time.Duration
	}{
		{"quiet time ends the burst", 0, []time.Duration{980*time.Millisecond + 200*time.Millisecond}},
		{"max_delay cuts the burst", time.Second, []time.Duration{time.Second}},
		{"max_delay twice", 500 * time.Millisecond, []time.Duration{500 * time.Millisecond, time.Second}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sh := newStateHarness(t, stateConfig(config.StateRule{
				Status:   []string{config.StatusRunning},
				Debounce: 200 * time.Millisecond,
				MaxDelay: tt.maxDelay,
				Action:   config.Action{Command: "x"},
			}), nil)
			sh.runEngine("a")
			sh.runEngine("b")
			for i := range n {
				sh.do("a", 1, func(d *informertest.Engine) { d.Create(fmt.Sprint("c", i), fmt.Sprint("c", i), "img", nil) })
			}
			sh.start()
			sh.sync()
			sh.wantRuns(0, "before the debounce of the start")
			sh.step(200 * time.Millisecond)
			sh.wantRuns(1, "after the debounce of the start")

			t0 := sh.clock.Now()
			var at []time.Duration
			for i := range n {
				sh.do("a", 1, func(d *informertest.Engine) { d.Start(fmt.Sprint("c", i)) })
				for len(sh.runs()) > len(at)+1 {
					at = append(at, sh.clock.Since(t0))
				}
				if i < n-1 {
					sh.step(20 * time.Millisecond)
				}
			}
			for range 100 { // 2s in steps of 20ms
				sh.step(20 * time.Millisecond)
				for len(sh.runs()) > len(at)+1 {
					at = append(at, sh.clock.Since(t0))
				}
			}
			if !slices.Equal(at, tt.wantAt) {
				t.Errorf("runs of the burst at %v, want %v", at, tt.wantAt)
			}
			runs := sh.runs()
			if got := env(t, runs[len(runs)-1], "STATE_COUNT"); got != fmt.Sprint(n) {
				t.Errorf("last run saw %s containers, want %d", got, n)
			}
		})
	}
}

func TestStateRuleDebounceIgnoresAChangeUndoneInTime(t *testing.T) {
	sh := newStateHarness(t, stateConfig(config.StateRule{
		Selector: config.Selector{FromEngine: "a"},
		Status:   []string{config.StatusRunning},
		Trigger:  config.TriggerEmpty,
		Debounce: 5 * time.Second,
		Action:   config.Action{Command: "failover"},
	}), nil)
	sh.runEngine("a")
	sh.startContainer("a", "master", nil)
	sh.start()
	sh.step(5 * time.Second)
	sh.wantRuns(0, "master running")
	sh.do("a", 1, func(d *informertest.Engine) { d.Die("master", 1) })
	sh.step(3 * time.Second)
	sh.do("a", 1, func(d *informertest.Engine) { d.Start("master") })
	sh.step(time.Minute)
	sh.wantRuns(0, "master restarted within the debounce")
	sh.do("a", 1, func(d *informertest.Engine) { d.Die("master", 1) })
	sh.step(4 * time.Second)
	sh.wantRuns(0, "within the debounce")
	sh.clock.Step(time.Second) // no sync: the debounce timer wakes the rule
	sh.waitStarted(1)
}

func TestStateRuleRetriesUntilANewerStateSupersedesIt(t *testing.T) {
	var failing atomic.Value // the STATE_HASH that fails
	failing.Store("")
	run := func(_ context.Context, cmd reconcile.Command) (reconcile.Result, error) {
		if v, _ := envLookup(cmd, "STATE_HASH"); v == failing.Load() {
			return fail()
		}
		return reconcile.Result{}, nil
	}
	sh := newStateHarness(t, stateConfig(config.StateRule{
		Selector: config.Selector{FromEngine: "a"},
		Status:   []string{config.StatusRunning},
		Action:   config.Action{Command: "x", Retry: config.Retry{MaxAttempts: 10, Backoff: time.Second, MaxBackoff: 4 * time.Second}},
	}), run)
	sh.runEngine("a")
	sh.startContainer("a", "db-1", nil)
	snap, err := sh.c.state.snapshot(sh.clock.Now(), &sh.c.state.rules()[0].sel)
	if err != nil {
		t.Fatal(err)
	}
	failing.Store(snap.hash)
	sh.start()
	sh.sync()
	sh.wantRuns(1, "first attempt")
	// Attempts 2, 3, 4 wait 1s, 2s, 4s (±20%); then 4s, the cap.
	for i, wait := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 4 * time.Second} {
		sh.step(wait * 79 / 100) // the jitter is ±20%
		sh.wantRuns(i+1, fmt.Sprintf("before retry %d", i+1))
		sh.step(wait * 41 / 100)
		runs := sh.wantRuns(i+2, fmt.Sprintf("retry %d", i+1))
		if got := env(t, runs[i+1], "STATE_ATTEMPT"); got != fmt.Sprint(i+2) {
			t.Errorf("STATE_ATTEMPT=%s, want %d", got, i+2)
		}
	}
	sh.startContainer("a", "db-2", nil)
	runs := sh.wantRuns(6, "newer state")
	if got := env(t, runs[5], "STATE_COUNT"); got != "2" || env(t, runs[5], "STATE_ATTEMPT") != "1" {
		t.Errorf("newer state ran with STATE_COUNT=%s STATE_ATTEMPT=%s, want 2 and 1", got, env(t, runs[5], "STATE_ATTEMPT"))
	}
	sh.step(time.Minute)
	sh.wantRuns(6, "the superseded state is not retried")
	if l := sh.logs.Find("State rule run superseded"); len(l) != 1 || l[0].Values["hash"] != snap.hash {
		t.Errorf("superseded lines = %v", l)
	}
	if l := sh.logs.Find("State rule failed"); len(l) != 5 || l[0].Values["willRetry"] != true {
		t.Errorf("%d State rule failed lines, want 5 with willRetry", len(l))
	}
}

func TestStateRuleGivesUpAfterMaxAttemptsAndWaitsForAChange(t *testing.T) {
	var fails atomic.Bool
	fails.Store(true)
	run := func(context.Context, reconcile.Command) (reconcile.Result, error) {
		if fails.Load() {
			return fail()
		}
		return reconcile.Result{}, nil
	}
	sh := newStateHarness(t, stateConfig(config.StateRule{
		Selector: config.Selector{FromEngine: "a"},
		Action:   config.Action{Command: "x", Retry: config.Retry{MaxAttempts: 2, Backoff: time.Second, MaxBackoff: time.Second}},
	}), run)
	sh.runEngine("a")
	sh.start()
	sh.sync()
	sh.step(2 * time.Second)
	sh.wantRuns(2, "max_attempts")
	sh.step(time.Hour)
	sh.wantRuns(2, "after giving up")
	if l := sh.logs.Find("State rule failed, giving up"); len(l) != 1 || l[0].Values["attempt"] != 2 {
		t.Errorf("giving up lines = %v", l)
	}
	fails.Store(false)
	sh.do("a", 1, func(d *informertest.Engine) { d.Create("db", "db", "img", nil) })
	sh.wantRuns(3, "next change")
}

func TestStateRuleResyncRunsAgainWhileTheTriggerHolds(t *testing.T) {
	tests := []struct {
		trigger string
		want    int // runs after start + 3 resyncs
	}{
		{config.TriggerChanged, 4},
		{config.TriggerNonEmpty, 4},
		{config.TriggerEmpty, 0},
	}
	for _, tt := range tests {
		t.Run(tt.trigger, func(t *testing.T) {
			sh := newStateHarness(t, stateConfig(config.StateRule{
				Selector: config.Selector{FromEngine: "a"},
				Trigger:  tt.trigger,
				Resync:   time.Minute,
				Action:   config.Action{Command: "x"},
			}), nil)
			sh.runEngine("a")
			sh.startContainer("a", "db", nil)
			sh.start()
			sh.sync()
			for range 3 {
				sh.step(59 * time.Second)
				sh.step(time.Second)
			}
			runs := sh.wantRuns(tt.want, "3 resyncs")
			for _, r := range runs {
				if env(t, r, "STATE_HASH") != env(t, runs[0], "STATE_HASH") {
					t.Errorf("resync ran another set")
				}
			}
		})
	}
}

func TestStateRuleEngineDownGraceMakesContainersUnknown(t *testing.T) {
	sh := newStateHarness(t, stateConfig(
		config.StateRule{
			Name:            "master",
			Status:          []string{config.StatusRunning},
			Trigger:         config.TriggerEmpty,
			EngineDownGrace: 10 * time.Second,
			Action:          config.Action{Command: "failover"},
		},
		config.StateRule{
			Name:            "lost",
			Status:          []string{config.StatusUnknown},
			Trigger:         config.TriggerNonEmpty,
			EngineDownGrace: 10 * time.Second,
			Action:          config.Action{Command: "alert"},
		},
	), nil)
	sh.runEngine("a")
	sh.runEngine("b")
	sh.startContainer("a", "db", nil)
	sh.start()
	sh.sync()
	sh.wantRuns(0, "master running, nothing unknown")

	sh.setDown("a", true)
	sh.step(9 * time.Second)
	sh.setDown("a", false)
	sh.step(time.Minute)
	sh.wantRuns(0, "a blip shorter than the grace")

	sh.setDown("a", true)
	sh.step(9 * time.Second)
	sh.wantRuns(0, "within the grace")
	sh.clock.Step(time.Second) // no sync: the grace timer wakes the rules
	sh.waitFinished(2)
	sh.sync()
	runs := map[string][]stateElem{}
	for _, r := range sh.wantRuns(2, "grace over") {
		runs[env(t, r, "EVENTSD_RULE")] = decodeSet(t, r)
	}
	if set, ok := runs["master"]; !ok || len(set) != 0 {
		t.Errorf("master ran with %v, want the empty set", set)
	}
	if got := names(runs["lost"]); !slices.Equal(got, []string{"a/db:unknown"}) {
		t.Errorf("lost ran with %v, want a/db:unknown", got)
	} else if runs["lost"][0].State != "running" {
		t.Errorf("unknown element state = %q, want the last known running", runs["lost"][0].State)
	}
	sh.setDown("a", false)
	sh.step(time.Minute)
	sh.wantRuns(2, "engine back")
}

func TestStateRuleWaitsForEveryEngineToSync(t *testing.T) {
	sh := newStateHarness(t, stateConfig(config.StateRule{EngineDownGrace: 10 * time.Second, Action: config.Action{Command: "x"}}), nil)
	sh.runEngine("a")
	sh.start()
	sh.startContainer("a", "web", nil)
	sh.step(time.Minute)
	sh.wantRuns(0, "engine b not synced")
	if l := sh.logs.Find("State rule waiting for engines to sync"); len(l) != 1 || !slices.Equal(l[0].Values["engines"].([]string), []string{"b"}) {
		t.Errorf("waiting lines = %v, want one for b", l)
	}
	// Before the informer runs: no event, the container is in its first list.
	sh.engines["b"].docker.Create("db", "db", "img", nil)
	sh.engines["b"].docker.Start("db")
	sh.runEngine("b")
	sh.clock.Step(time.Second) // no sync: the tick notices the sync
	runs := sh.waitStarted(1)
	if got := names(decodeSet(t, runs[0])); !slices.Equal(got, []string{"a/web:running", "b/db:running"}) {
		t.Errorf("first run saw %v, want the containers of both engines", got)
	}
}

func TestStateRuleStopsWaitingForAnEngineDownLongerThanTheGrace(t *testing.T) {
	sh := newStateHarness(t, stateConfig(config.StateRule{Trigger: config.TriggerEmpty, EngineDownGrace: 10 * time.Second, Action: config.Action{Command: "x"}}), nil)
	sh.runEngine("a")
	sh.setDown("b", true) // unreachable at start-up, never synced
	sh.start()
	sh.step(9 * time.Second)
	sh.wantRuns(0, "within the grace")
	sh.clock.Step(time.Second)
	if runs := sh.waitStarted(1); env(t, runs[0], "STATE_COUNT") != "0" {
		t.Errorf("STATE_COUNT=%s, want 0", env(t, runs[0], "STATE_COUNT"))
	}
}

func TestStateRuleRunsNeverOverlap(t *testing.T) {
	var running, maxRunning atomic.Int32
	release := make(chan struct{}, 10)
	run := func(ctx context.Context, cmd reconcile.Command) (reconcile.Result, error) {
		n := running.Add(1)
		defer running.Add(-1)
		if n > maxRunning.Load() {
			maxRunning.Store(n)
		}
		return blockUntil(ctx, release)
	}
	sh := newStateHarness(t, stateConfig(config.StateRule{Selector: config.Selector{FromEngine: "a"}, Status: []string{config.StatusRunning}, Action: config.Action{Command: "x"}}), run)
	sh.runEngine("a")
	sh.harness.start() // not sh.start: the first run blocks
	sh.waitStarted(1)
	// Changes while the first run blocks: Handle never waits.
	for i := range 3 {
		sh.handled(2, func() {
			d := sh.engines["a"].docker
			d.Create(fmt.Sprint("c", i), fmt.Sprint("c", i), "img", nil)
			d.Start(fmt.Sprint("c", i))
		})
	}
	release <- struct{}{}
	runs := sh.waitStarted(2)
	release <- struct{}{}
	sh.sync()
	sh.wantRuns(2, "one run for the changes made during the first")
	if got := env(t, runs[1], "STATE_COUNT"); got != "3" {
		t.Errorf("second run saw %s containers, want the final 3", got)
	}
	if maxRunning.Load() != 1 {
		t.Errorf("%d runs at once, want 1", maxRunning.Load())
	}
}

func TestStateRuleShutdown(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration
		release bool
		wantLog string
	}{
		{"finishes within the timeout", waitTimeout, true, "State rule ran"},
		{"cancelled after the timeout", 0, false, "State rule stopped by shutdown"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			run := func(ctx context.Context, cmd reconcile.Command) (reconcile.Result, error) {
				return blockUntil(ctx, release)
			}
			sh := newStateHarness(t, stateConfig(config.StateRule{Selector: config.Selector{FromEngine: "a"}, Action: config.Action{Command: "x"}}), run)
			sh.shutdownTimeout = tt.timeout
			sh.runEngine("a")
			sh.harness.start() // not sh.start: the first run blocks
			sh.waitStarted(1)
			sh.cancel()
			sh.waitLog("Shutting down, waiting for running handlers", 1)
			if tt.release {
				close(release)
			}
			if err := sh.stop(); err != nil {
				t.Fatalf("Run: %v", err)
			}
			sh.waitLog(tt.wantLog, 1)
			sh.wantRuns(1, "after shutdown")
		})
	}
}

func TestStateRuleKeepsRetryingAStateThatComesBack(t *testing.T) {
	run := func(context.Context, reconcile.Command) (reconcile.Result, error) { return fail() }
	sh := newStateHarness(t, stateConfig(config.StateRule{
		Selector: config.Selector{FromEngine: "a"},
		Status:   []string{config.StatusRunning},
		Debounce: time.Second,
		Action:   config.Action{Command: "x", Retry: config.Retry{MaxAttempts: 10, Backoff: 10 * time.Second, MaxBackoff: 10 * time.Second}},
	}), run)
	sh.runEngine("a")
	sh.startContainer("a", "db", nil)
	sh.start()
	sh.step(time.Second)
	sh.wantRuns(1, "first attempt")
	sh.do("a", 1, func(d *informertest.Engine) { d.Emit("pause", "db", nil) })
	sh.step(500 * time.Millisecond)
	sh.do("a", 1, func(d *informertest.Engine) { d.Emit("unpause", "db", nil) })
	sh.step(1500 * time.Millisecond)
	sh.wantRuns(1, "the set came back within the debounce: its retry waits for its backoff")
	if l := sh.logs.Find("State rule run superseded"); len(l) != 0 {
		t.Errorf("superseded lines = %v, want none", l)
	}
	sh.step(10 * time.Second)
	if runs := sh.wantRuns(2, "retry"); env(t, runs[1], "STATE_ATTEMPT") != "2" {
		t.Errorf("STATE_ATTEMPT=%s, want 2", env(t, runs[1], "STATE_ATTEMPT"))
	}
}
