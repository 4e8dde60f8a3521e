package controller

import (
	"context"
	"fmt"
	"sync"
	"testing"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/reconcile"
)

// stopEvent returns a stop event of container id on engine local.
func stopEvent(id, eventID string) *informer.Event {
	ev := start(id, eventID)
	ev.Action = "stop"
	return ev
}

// TestSetRulesRunsQueuedDeliveriesWithTheNewDefinitionAndDropsRemovedRules
// checks the reload of rules by name: the running handler finishes with its
// command, a queued delivery of a kept rule runs with its new command, and a
// queued delivery of a removed rule is dropped and logged.
func TestSetRulesRunsQueuedDeliveriesWithTheNewDefinitionAndDropsRemovedRules(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	first := make(chan struct{})
	fn := func(ctx context.Context, cmd reconcile.Command) (reconcile.Result, error) {
		blocked := false
		once.Do(func() { blocked = true })
		if blocked {
			close(first)
			return blockUntil(ctx, release)
		}
		return reconcile.Result{}, nil
	}
	cfg := localConfig(
		config.Rule{Name: "a", Types: []string{"start"}, Action: config.Action{Command: "a-old"}},
		config.Rule{Name: "b", Types: []string{"stop"}, Action: config.Action{Command: "b"}},
	)
	h := newHarness(t, cfg, fn, 1)
	h.start()
	h.c.Handle(start("c1", "ev1"))
	<-first
	h.c.Handle(start("c1", "ev2"))
	h.c.Handle(stopEvent("c1", "ev3"))

	next := localConfig(
		config.Rule{Name: "a", Types: []string{"start"}, Action: config.Action{Command: "a-new"}},
		config.Rule{Name: "c", Types: []string{"die"}, Action: config.Action{Command: "c"}},
	)
	ch := h.c.SetRules(next)
	if fmt.Sprint(ch.Rules) != fmt.Sprint(RuleChanges{Added: []string{"c"}, Changed: []string{"a"}, Removed: []string{"b"}}) {
		t.Errorf("changes = %+v, want a changed, c added, b removed", ch.Rules)
	}
	close(release)
	h.waitFinished(2)
	dropped := h.waitLog("Dropped delivery: its rule was removed by a reload", 1)
	if dropped[0].Values["rule"] != "b" || dropped[0].Values["event"] != "ev3" {
		t.Errorf("dropped = %v, want rule b's delivery of ev3", dropped[0])
	}
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, cmd := range h.runner.Started() {
		got = append(got, cmd.Script+"/"+env(t, cmd, "EVENT_ID"))
	}
	if fmt.Sprint(got) != "[a-old/ev1 a-new/ev2]" {
		t.Errorf("runs = %v, want the running one with the old command, the queued one with the new", got)
	}
	if n := h.c.Pending(); n != 0 {
		t.Errorf("Pending() = %d, want 0", n)
	}
}

// TestEventsDuringReloadsAreDeliveredExactlyOnce hands on events while the
// rule set is swapped again and again: each event runs once, under one of
// the two definitions of its rule.
func TestEventsDuringReloadsAreDeliveredExactlyOnce(t *testing.T) {
	def := func(cmd string) *config.Config {
		return localConfig(config.Rule{Name: "r", Types: []string{"start"}, Action: config.Action{Command: cmd}})
	}
	h := newHarness(t, def("x"), nil, 4)
	h.start()
	const n = 2000
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			h.c.Handle(start(fmt.Sprintf("c%d", i), fmt.Sprintf("ev%d", i)))
		}
	}()
	for i := 0; ; i++ {
		select {
		case <-done:
		default:
			h.c.SetRules(def([]string{"x", "y"}[i%2]))
			continue
		}
		break
	}
	h.waitFinished(n)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, cmd := range h.runner.Started() {
		if cmd.Script != "x" && cmd.Script != "y" {
			t.Fatalf("ran %q", cmd.Script)
		}
		seen[env(t, cmd, "EVENT_ID")]++
	}
	for i := range n {
		if c := seen[fmt.Sprintf("ev%d", i)]; c != 1 {
			t.Fatalf("event ev%d ran %d times, want 1", i, c)
		}
	}
}
