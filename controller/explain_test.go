package controller

import (
	"strings"
	"testing"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

func TestExplainNamesTheFirstFilterThatFailedAndAgreesWithMatch(t *testing.T) {
	cfg := &config.Config{
		Engines: []config.Engine{{Name: "local"}, {Name: "prod-1"}},
		Rules: []config.Rule{
			{Name: "any", Types: []string{"*"}},
			{Name: "starts", Types: []string{"start"}},
			{Name: "prod", Types: []string{"die"}, Selector: config.Selector{FromEngine: "prod-*"}},
			{Name: "workers", Types: []string{"die"}, Selector: config.Selector{FromContainer: "worker-*"}},
			{Name: "postgres", Types: []string{"die"}, Selector: config.Selector{Image: "postgres*"}},
			{Name: "has-pg", Types: []string{"die"}, Selector: config.Selector{ImageContains: "pg"}},
			{Name: "masters", Types: []string{"die"}, Selector: config.Selector{Labels: map[string]string{"role": "primary"}}},
			{Name: "crashes", Types: []string{"die"}, ExitCodes: []int{1, 2}},
			{Name: "images", Types: []string{"delete"}, Objects: []string{config.ObjectImage}},
			{Name: "downs", Types: []string{"engine_down"}},
			{Name: "mysql-dies", Types: []string{"die"}, Selector: config.Selector{Image: "mysql", Labels: map[string]string{"role": "master"}}, ExitCodes: []int{137}},
		},
	}
	ev := died("db", "ev1") // local, mysql, role=master, exit 137
	want := map[string]struct {
		matched        bool
		filter, reason string
	}{
		"any":        {true, "", ""},
		"starts":     {false, "type", `container "die" is not one of the rule's types: start`},
		"prod":       {false, "from_engine", `engine "local" does not match "prod-*"`},
		"workers":    {false, "from_container", `container "db" does not match "worker-*"`},
		"postgres":   {false, "image", `image "mysql" does not match "postgres*"`},
		"has-pg":     {false, "image_contains", `image "mysql" does not contain "pg"`},
		"masters":    {false, "labels", `label role is "master", want "primary"`},
		"crashes":    {false, "exit_code", "exit code 137 is not one of 1, 2"},
		"images":     {false, "object", "the event is about a container; the rule is about image"},
		"downs":      {false, "type", `container "die" is not one of the rule's types: engine_down`},
		"mysql-dies": {true, "", ""},
	}
	x := NewExplainer(cfg)
	res := x.Explain(ev)
	if len(res) != len(cfg.Rules) {
		t.Fatalf("%d results, want %d", len(res), len(cfg.Rules))
	}
	for i, r := range res {
		w := want[r.Rule]
		if r.Matched != w.matched || r.Filter != w.filter || r.Reason != w.reason {
			t.Errorf("%s: %+v, want matched %v, filter %q, reason %q", r.Rule, r, w.matched, w.filter, w.reason)
		}
		if m := x.rules[i].match.match(ev); m != r.Matched {
			t.Errorf("%s: Explain says matched %v, match says %v", r.Rule, r.Matched, m)
		}
	}
}

func TestExplainTellsAnEngineEventHasNoContainerAndAMissingLabel(t *testing.T) {
	cfg := &config.Config{Engines: []config.Engine{{Name: "local"}}, Rules: []config.Rule{
		{Name: "labelled", Types: []string{"*"}, Selector: config.Selector{Labels: map[string]string{"team": ""}}},
	}}
	down := &informer.Event{ID: "d", Engine: "local", Type: informer.TypeEngine, Action: informer.ActionEngineDown}
	if r := NewExplainer(cfg).Explain(down)[0]; r.Matched || r.Filter != "from_container" || !strings.Contains(r.Reason, "no container") {
		t.Errorf("engine_down: %+v", r)
	}
	if r := NewExplainer(cfg).Explain(died("db", "e"))[0]; r.Matched || r.Reason != "label team is missing" {
		t.Errorf("die: %+v", r)
	}
}
