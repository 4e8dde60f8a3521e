package controller

import (
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

func TestStateExplainerFiresStateRulesOverTheReplayedCacheByTheirTrigger(t *testing.T) {
	cfg := &config.Config{
		Engines: []config.Engine{{Name: "a"}, {Name: "b"}},
		StateRules: []config.StateRule{
			{Name: "no-master", Selector: config.Selector{Labels: map[string]string{"role": "master"}}, Status: []string{"running"}, Trigger: config.TriggerEmpty, Action: config.Action{Command: "promote"}},
			{Name: "backends", Selector: config.Selector{FromContainer: "web-*"}, Status: []string{"running"}, Action: config.Action{Command: "lb"}},
		},
	}
	engines := NewReplaySet(cfg)
	x := NewStateExplainer(cfg, engines)
	t0 := time.Unix(1700000000, 0)
	eval := func(at time.Time) map[string]int {
		t.Helper()
		fires, err := x.Evaluate(at)
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]int{}
		for _, f := range fires {
			out[f.Rule] = f.Count
		}
		return out
	}
	master := &informer.Container{ID: "m1", Engine: "a", Name: "db", Labels: map[string]string{"role": "master"}, State: informer.StateRunning, Created: t0}
	web := &informer.Container{ID: "w1", Engine: "a", Name: "web-1", Labels: map[string]string{}, State: informer.StateRunning, Created: t0}
	engines.Engine("a").Baseline([]*informer.Container{master, web})
	if got := eval(t0); len(got) != 0 {
		t.Errorf("with b not in sync: %v fired, want nothing (the rules wait)", got)
	}
	engines.Engine("b").Baseline(nil)
	if got := eval(t0); len(got) != 1 || got["backends"] != 1 {
		t.Errorf("first evaluation: %v, want backends with 1 container (changed fires at start; a master runs)", got)
	}
	if got := eval(t0.Add(time.Second)); len(got) != 0 {
		t.Errorf("nothing changed: %v fired", got)
	}
	dead := *master
	dead.State = informer.StateExited
	engines.Engine("a").Apply(&informer.Event{ID: "e1", Engine: "a", Type: informer.TypeContainer, Action: "die", Container: &dead}, t0.Add(2*time.Second))
	if got := eval(t0.Add(2 * time.Second)); len(got) != 1 || got["no-master"] != 0 {
		t.Errorf("after the master died: %v, want no-master alone, with an empty set", got)
	}
	gone := *web
	gone.State = informer.StateGone
	engines.Engine("a").Apply(&informer.Event{ID: "e2", Engine: "a", Type: informer.TypeContainer, Action: "destroy", Container: &gone}, t0.Add(3*time.Second))
	if got := eval(t0.Add(3 * time.Second)); len(got) != 1 || got["backends"] != 0 {
		t.Errorf("after web-1 was destroyed: %v, want backends with no container", got)
	}
	if n := engines.Engine("a").Cache().Len(); n != 1 {
		t.Errorf("cache holds %d containers, want 1 (the destroyed one removed)", n)
	}
}
