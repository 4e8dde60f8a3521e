package controller

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller/controllertest"
	"github.com/samalba/docker-eventsd/reconcile"
)

// cooldownRule is a die rule with a cooldown of 10m.
func cooldownRule() config.Rule {
	return config.Rule{Name: "promote", Types: []string{"die"}, Cooldown: 10 * time.Minute, Action: config.Action{Command: "promote"}}
}

func TestCooldownSkipsLaterDeliveriesOfTheKeyUntilItEnds(t *testing.T) {
	cfg := localConfig(cooldownRule())
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC))
	reg := prometheus.NewRegistry()
	h := newHarness(t, cfg, nil, 1)
	h.c = New(Options{Config: cfg, Runner: h.runner, Workers: 1, Clock: clk, Metrics: reg})
	h.start()

	h.c.Handle(died("db", "e1"))
	h.waitLog("Handler succeeded", 1)
	// Within the cooldown: skipped, logged, counted; another container runs.
	clk.Step(9 * time.Minute)
	h.c.Handle(died("db", "e2"))
	skip := h.waitLog("Skipped delivery: the rule is cooling down", 1)[0]
	if skip.Values["event"] != "e2" || skip.Values["remaining"] != "1m0s" {
		t.Errorf("skip logged %v; want event e2, 1m0s remaining", skip.Values)
	}
	h.c.Handle(died("other", "e3"))
	h.waitLog("Handler succeeded", 2)
	// Past the cooldown: runs again, and starts a new cooldown.
	clk.Step(time.Minute)
	h.c.Handle(died("db", "e4"))
	h.waitLog("Handler succeeded", 3)
	h.c.Handle(died("db", "e5"))
	h.waitLog("Skipped delivery: the rule is cooling down", 2)

	var ran []string
	for _, f := range h.runner.Finished() {
		ran = append(ran, env(t, f.Cmd, "EVENT_ID"))
	}
	if strings.Join(ran, " ") != "e1 e3 e4" {
		t.Errorf("ran %v, want e1 e3 e4", ran)
	}
	if n := h.c.CooldownSkips("promote"); n != 2 {
		t.Errorf("CooldownSkips = %d, want 2", n)
	}
	want := "# HELP eventsd_rule_cooldown_skips_total Deliveries skipped because their rule was cooling down for their container (cooldown:).\n" +
		"# TYPE eventsd_rule_cooldown_skips_total counter\n" + `eventsd_rule_cooldown_skips_total{rule="promote"} 2` + "\n"
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "eventsd_rule_cooldown_skips_total"); err != nil {
		t.Error(err)
	}
	if h.c.Pending() != 0 {
		t.Errorf("%d pending, want 0: a skipped delivery is done", h.c.Pending())
	}
}

func TestCooldownStartsOnlyAfterASuccess(t *testing.T) {
	cfg := localConfig(cooldownRule())
	cfg.Rules[0].Retry = config.Retry{MaxAttempts: 1}
	// e1 fails and is given up: that starts no cooldown, e2 runs.
	h := newHarness(t, cfg, func(_ context.Context, cmd reconcile.Command) (reconcile.Result, error) {
		if id, _ := controllertest.Env(cmd, "EVENT_ID"); id == "e1" {
			return fail()
		}
		return reconcile.Result{}, nil
	}, 1)
	h.start()
	h.c.Handle(died("db", "e1"))
	h.waitLog("Handler failed, giving up", 1)
	h.c.Handle(died("db", "e2"))
	h.waitLog("Handler succeeded", 1)
	if n := len(h.runner.Finished()); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}
}

func TestCooldownSurvivesARestartWithTheJournal(t *testing.T) {
	cfg := localConfig(cooldownRule())
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC))
	j := newCompletionJournal()
	h := newHarness(t, cfg, nil, 1)
	h.c = New(Options{Config: cfg, Runner: h.runner, Workers: 1, Clock: clk, Journal: j})
	h.start()
	h.c.Handle(died("db", "e1"))
	h.waitLog("Handler succeeded", 1)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}

	// The next run reads the completed deliveries: db cools down, for the
	// rest of the 10 minutes only.
	clk.Step(5 * time.Minute)
	h2 := newHarness(t, cfg, nil, 1)
	h2.c = New(Options{Config: cfg, Runner: h2.runner, Workers: 1, Clock: clk, Journal: j, CompletedRecords: j.records()})
	h2.start()
	h2.c.Handle(died("db", "e2"))
	if skip := h2.waitLog("Skipped delivery: the rule is cooling down", 1)[0]; skip.Values["remaining"] != "5m0s" {
		t.Errorf("skip after restart logged %v, want 5m0s remaining", skip.Values)
	}
	clk.Step(5 * time.Minute)
	h2.c.Handle(died("db", "e3"))
	h2.waitLog("Handler succeeded", 1)
	if n := len(h2.runner.Finished()); n != 1 {
		t.Errorf("%d runs after the restart, want 1 (e3)", n)
	}
}

func TestCooldownIsKeptByNameAcrossAReload(t *testing.T) {
	cfg := localConfig(cooldownRule())
	h := newHarness(t, cfg, nil, 1)
	h.start()
	h.c.Handle(died("db", "e1"))
	h.waitLog("Handler succeeded", 1)
	next := localConfig(cooldownRule())
	next.Rules[0].Command = "promote --v2"
	h.c.SetRules(next)
	h.c.Handle(died("db", "e2"))
	h.waitLog("Skipped delivery: the rule is cooling down", 1)
	// Without a cooldown any more, it runs.
	next = localConfig(cooldownRule())
	next.Rules[0].Cooldown = 0
	h.c.SetRules(next)
	h.c.Handle(died("db", "e3"))
	h.waitLog("Handler succeeded", 2)
}
