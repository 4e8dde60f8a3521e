package controller

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/reconcile"
)

func TestHandlerRunsAreCountedByResultAndTheLastFailedAttemptIsGaveUp(t *testing.T) {
	var attempt atomic.Int64
	run := func(_ context.Context, cmd reconcile.Command) (reconcile.Result, error) {
		if !strings.Contains(cmd.Script, "flaky") {
			return reconcile.Result{Duration: time.Millisecond}, nil
		}
		switch attempt.Add(1) {
		case 2:
			return reconcile.Result{ExitCode: -1, TimedOut: true}, reconcile.ErrTimeout
		default:
			return fail()
		}
	}
	retry := config.Retry{MaxAttempts: 3, Backoff: time.Millisecond, MaxBackoff: time.Millisecond}
	cfg := localConfig(
		config.Rule{Name: "flaky", Types: []string{"start"}, Action: config.Action{Command: "flaky", Retry: retry}},
		config.Rule{Name: "fine", Types: []string{"start"}, Action: config.Action{Command: "fine", Retry: retry}},
		config.Rule{Name: "quiet", Types: []string{"die"}, Action: config.Action{Command: "quiet", Retry: retry}},
	)
	reg := prometheus.NewPedanticRegistry()
	h := newHarness(t, cfg, run, 2)
	h.c = New(Options{Config: cfg, Runner: h.runner, Workers: 2, Environ: []string{"PATH=/usr/bin:/bin"}, Metrics: reg})
	h.start()
	h.c.Handle(start("c1", "e1"))
	h.waitFinished(4)
	h.waitLog("Handler failed, giving up", 1)

	want := `
# HELP eventsd_handler_runs_total Handler runs (attempts) by result: success, failure, timeout, gave_up (the last failed attempt of a delivery).
# TYPE eventsd_handler_runs_total counter
eventsd_handler_runs_total{result="failure",rule="fine"} 0
eventsd_handler_runs_total{result="failure",rule="flaky"} 1
eventsd_handler_runs_total{result="failure",rule="quiet"} 0
eventsd_handler_runs_total{result="gave_up",rule="fine"} 0
eventsd_handler_runs_total{result="gave_up",rule="flaky"} 1
eventsd_handler_runs_total{result="gave_up",rule="quiet"} 0
eventsd_handler_runs_total{result="success",rule="fine"} 1
eventsd_handler_runs_total{result="success",rule="flaky"} 0
eventsd_handler_runs_total{result="success",rule="quiet"} 0
eventsd_handler_runs_total{result="timeout",rule="fine"} 0
eventsd_handler_runs_total{result="timeout",rule="flaky"} 1
eventsd_handler_runs_total{result="timeout",rule="quiet"} 0
# HELP eventsd_rule_matches_total Events each rule matched.
# TYPE eventsd_rule_matches_total counter
eventsd_rule_matches_total{rule="fine"} 1
eventsd_rule_matches_total{rule="flaky"} 1
eventsd_rule_matches_total{rule="quiet"} 0
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "eventsd_handler_runs_total", "eventsd_rule_matches_total"); err != nil {
		t.Error(err)
	}
	if n, err := testutil.GatherAndCount(reg, "eventsd_handler_duration_seconds"); err != nil || n != 3 {
		t.Errorf("eventsd_handler_duration_seconds: %d series (%v), want one per rule", n, err)
	}

	st := h.c.RuleStatuses()
	if f := st[0]; f.Name != "flaky" || f.Matched != 1 || f.Runs != 3 || f.Failed != 3 || f.LastError == "" || f.LastRun.IsZero() || f.Pending != 0 {
		t.Errorf("status of flaky = %+v, want 3 runs, 3 failed, a last error, nothing pending", f)
	}
	if f := st[1]; f.Name != "fine" || f.Runs != 1 || f.Failed != 0 || f.LastError != "" {
		t.Errorf("status of fine = %+v, want 1 run, no failure", f)
	}
}

func TestDeliveriesPendingCountsEachRulesWaitingAndRunningDeliveries(t *testing.T) {
	release := make(chan struct{})
	cfg := localConfig(config.Rule{Name: "slow", Types: []string{"start"}, Action: config.Action{Command: "slow"}})
	reg := prometheus.NewPedanticRegistry()
	h := newHarness(t, cfg, nil, 1)
	h.runner.Func = func(ctx context.Context, _ reconcile.Command) (reconcile.Result, error) {
		return blockUntil(ctx, release)
	}
	h.c = New(Options{Config: cfg, Runner: h.runner, Workers: 1, Environ: []string{"PATH=/usr/bin:/bin"}, Metrics: reg})
	h.start()
	h.c.Handle(start("c1", "e1"))
	h.c.Handle(start("c2", "e2"))
	h.waitStarted(1)
	want := `
# HELP eventsd_deliveries_pending Deliveries not done yet: waiting, waiting for a retry, or running.
# TYPE eventsd_deliveries_pending gauge
eventsd_deliveries_pending{rule="slow"} 2
# HELP workqueue_depth Current depth of workqueue
# TYPE workqueue_depth gauge
workqueue_depth{name="deliveries"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "eventsd_deliveries_pending", "workqueue_depth"); err != nil {
		t.Error(err)
	}
	close(release)
	h.waitFinished(2)
	if got := h.c.RuleStatuses()[0].Pending; got != 0 {
		t.Errorf("pending after both ran = %d, want 0", got)
	}
}
