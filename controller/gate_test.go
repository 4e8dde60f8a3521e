package controller

import (
	"sync"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
)

// testGate is a Gate the test opens and closes.
type testGate struct {
	mu      sync.Mutex
	token   int64
	open    bool
	changed chan struct{}
}

func newTestGate() *testGate { return &testGate{changed: make(chan struct{})} }

func (g *testGate) Allowed() (int64, bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.token, g.open
}

func (g *testGate) Changed() <-chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.changed
}

func (g *testGate) Replica() string { return "r1" }

func (g *testGate) set(open bool, token int64) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.open, g.token = open, token
	close(g.changed)
	g.changed = make(chan struct{})
}

// gatedHarness is a harness whose controller has gate g.
func gatedHarness(t *testing.T, g Gate) *harness {
	t.Helper()
	cfg := localConfig(config.Rule{Name: "on-start", Types: []string{"start"},
		Action: config.Action{Command: "a", Retry: config.Retry{MaxAttempts: 1, Backoff: time.Second, MaxBackoff: time.Second}}})
	h := newHarness(t, cfg, nil, 2)
	opts := Options{Config: cfg, Runner: h.runner, Workers: 2, Grace: time.Second, Environ: []string{"PATH=/bin"}, Gate: g}
	h.c = New(opts)
	return h
}

func TestAClosedGateKeepsDeliveriesPendingUntilItOpensWithTheFenceToken(t *testing.T) {
	g := newTestGate()
	h := gatedHarness(t, g)
	h.start()
	h.c.Handle(start("c1", "e1"))
	h.c.Handle(start("c2", "e2"))
	time.Sleep(3 * standbyRecheck)
	if n := len(h.runner.Started()); n != 0 {
		t.Fatalf("%d handlers started behind a closed gate", n)
	}
	if p := h.c.Pending(); p != 2 {
		t.Fatalf("Pending = %d behind a closed gate, want 2 (kept, not dropped)", p)
	}
	g.set(true, 42)
	for _, cmd := range h.waitStarted(2) {
		if got := env(t, cmd, "EVENTSD_FENCE_TOKEN"); got != "42" {
			t.Errorf("EVENTSD_FENCE_TOKEN = %q, want 42", got)
		}
		if got := env(t, cmd, "EVENTSD_REPLICA"); got != "r1" {
			t.Errorf("EVENTSD_REPLICA = %q, want r1", got)
		}
	}
}

func TestADeliveryAnotherReplicaCompletedIsDroppedNotRun(t *testing.T) {
	g := newTestGate()
	h := gatedHarness(t, g)
	h.start()
	h.c.Handle(start("c1", "e1"))
	h.c.Handle(start("c2", "e2"))
	h.c.CompletedElsewhere(completedKey("on-start", "local", "e1"))
	deadline := time.Now().Add(waitTimeout)
	for h.c.Pending() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if p := h.c.Pending(); p != 1 {
		t.Fatalf("Pending = %d, want 1: the delivery completed elsewhere is dropped", p)
	}
	g.set(true, 7)
	cmds := h.waitStarted(1)
	if got := env(t, cmds[0], "EVENT_ID"); got != "e2" {
		t.Fatalf("ran EVENT_ID %s, want only e2", got)
	}
	time.Sleep(2 * standbyRecheck)
	if n := len(h.runner.Started()); n != 1 {
		t.Fatalf("%d runs, want 1", n)
	}
}

func TestWithoutAGateHandlersGetNoFenceToken(t *testing.T) {
	h := gatedHarness(t, nil)
	h.c = New(Options{Config: localConfig(config.Rule{Name: "on-start", Types: []string{"start"}, Action: config.Action{Command: "a"}}),
		Runner: h.runner, Workers: 1, Environ: []string{"PATH=/bin"}})
	h.start()
	h.c.Handle(start("c1", "e1"))
	cmd := h.waitStarted(1)[0]
	for _, kv := range cmd.Env {
		if len(kv) > 19 && kv[:19] == "EVENTSD_FENCE_TOKEN" {
			t.Fatalf("a handler without a gate got %s", kv)
		}
	}
}
