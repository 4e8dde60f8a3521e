package controller

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/checkpoint"
	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller/controllertest"
	"github.com/samalba/docker-eventsd/reconcile"
)

// failingRule is a rule on die whose handler is "handler" and on_failure
// "page", with attempts and permanent exit codes.
func failingRule(attempts int, permanent ...int) config.Rule {
	return config.Rule{Name: "promote", Types: []string{"die"}, OnFailure: "page", Action: config.Action{
		Command: "handler", Retry: config.Retry{MaxAttempts: attempts, Backoff: time.Millisecond, PermanentExitCodes: permanent}}}
}

// handlerFails fails the handler with exit code 3 and lets on_failure
// succeed.
func handlerFails(_ context.Context, cmd reconcile.Command) (reconcile.Result, error) {
	if cmd.Script == "page" {
		return reconcile.Result{}, nil
	}
	return fail()
}

func TestAGivenUpDeliveryBecomesADeadLetterAndOnFailureRunsOnceWithTheFailure(t *testing.T) {
	h := newHarness(t, localConfig(failingRule(2)), handlerFails, 2)
	h.start()
	h.c.Handle(died("db", "ev1"))
	h.waitLog("on_failure command ran", 1)
	cmds := h.runner.Started()
	if len(cmds) != 3 || cmds[0].Script != "handler" || cmds[1].Script != "handler" || cmds[2].Script != "page" {
		t.Fatalf("runs = %v, want handler twice then page once", scripts(cmds))
	}
	page := cmds[2]
	if got := env(t, page, "EVENTSD_FAILED_EXIT_CODE"); got != "3" {
		t.Errorf("EVENTSD_FAILED_EXIT_CODE = %q, want 3", got)
	}
	if got := env(t, page, "EVENTSD_FAILED_OUTPUT"); got != "out\nboom\n" {
		t.Errorf("EVENTSD_FAILED_OUTPUT = %q, want stdout then stderr of the last attempt", got)
	}
	if env(t, page, "EVENT_ID") != "ev1" || env(t, page, "FROM_CONTAINER") != "db" || env(t, page, "EVENT_ATTEMPT") != "2" {
		t.Errorf("on_failure env = %q, want the handler's environment of the last attempt", page.Env)
	}
	dead := h.c.DeadLetters()
	if len(dead) != 1 {
		t.Fatalf("dead letters = %+v, want 1", dead)
	}
	l := dead[0]
	if l.Rule != "promote" || l.Engine != "local" || l.Container != "db" || l.Event.ID != "ev1" || l.Attempts != 2 ||
		l.ExitCode != 3 || l.Stdout != "out\n" || l.Stderr != "boom\n" || l.Permanent || l.At.IsZero() || !strings.Contains(l.Error, "3") {
		t.Errorf("dead letter = %+v", l)
	}
	if got := h.c.deadCounts(); len(got) != 1 || got[0] != 1 {
		t.Errorf("dead letters by rule id = %v, want [1]", got)
	}
	if h.c.Pending() != 0 || h.c.DeadLetterCount() != 1 {
		t.Errorf("pending %d, dead %d; want 0 and 1", h.c.Pending(), h.c.DeadLetterCount())
	}
}

func TestAPermanentExitCodeIsNotRetriedAndGoesStraightToTheDeadLetters(t *testing.T) {
	h := newHarness(t, localConfig(failingRule(5, 2, 3)), handlerFails, 2)
	h.start()
	h.c.Handle(died("db", "ev1"))
	h.waitLog("on_failure command ran", 1)
	if got := scripts(h.runner.Started()); len(got) != 2 || got[0] != "handler" || got[1] != "page" {
		t.Errorf("runs = %v, want the handler once (exit 3 is permanent) and page", got)
	}
	dead := h.c.DeadLetters()
	if len(dead) != 1 || !dead[0].Permanent || dead[0].Attempts != 1 {
		t.Errorf("dead letters = %+v, want one permanent after 1 attempt", dead)
	}
	if l := h.logs.Find("Handler failed, giving up"); len(l) != 1 || l[0].Values["permanent"] != true {
		t.Errorf("giving up lines = %v", l)
	}
}

func TestAnExitCodeNotInThePermanentListIsRetried(t *testing.T) {
	h := newHarness(t, localConfig(failingRule(3, 2)), handlerFails, 2)
	h.start()
	h.c.Handle(died("db", "ev1"))
	h.waitLog("on_failure command ran", 1)
	if got := scripts(h.runner.Started()); len(got) != 4 {
		t.Errorf("runs = %v, want 3 attempts (exit 3 is not permanent) and page", got)
	}
}

func TestARetriedDeadLetterRunsAgainWithTheSameEventIDAndItsAttemptsReset(t *testing.T) {
	fails := true
	h := newHarness(t, localConfig(failingRule(1)), func(ctx context.Context, cmd reconcile.Command) (reconcile.Result, error) {
		if fails {
			return handlerFails(ctx, cmd)
		}
		return reconcile.Result{}, nil
	}, 1)
	h.start()
	h.c.Handle(died("db", "ev1"))
	h.waitLog("on_failure command ran", 1)
	fails = false // the worker is idle: the next run reads it after the retry below
	id := h.c.DeadLetters()[0].ID
	if _, err := h.c.RetryDeadLetter(id + 100); !errors.Is(err, ErrNoDeadLetter) {
		t.Errorf("RetryDeadLetter(unknown) = %v, want ErrNoDeadLetter", err)
	}
	seq, err := h.c.RetryDeadLetter(id)
	if err != nil {
		t.Fatal(err)
	}
	if seq == id {
		t.Errorf("the retry took the dead letter's ID %d", id)
	}
	h.waitLog("Handler succeeded", 1)
	cmds := h.runner.Started()
	again := cmds[len(cmds)-1]
	if again.Script != "handler" || env(t, again, "EVENT_ID") != "ev1" || env(t, again, "EVENT_ATTEMPT") != "1" {
		t.Errorf("retried run = %s %q, want the handler with EVENT_ID ev1 and EVENT_ATTEMPT 1", again.Script, again.Env)
	}
	if n := h.c.DeadLetterCount(); n != 0 {
		t.Errorf("%d dead letters after the retry, want 0", n)
	}
}

func TestDropDeadLetterForgetsIt(t *testing.T) {
	h := newHarness(t, localConfig(failingRule(1)), handlerFails, 1)
	h.start()
	h.c.Handle(died("a", "ev1"))
	h.c.Handle(died("b", "ev2"))
	h.waitLog("on_failure command ran", 2)
	dead := h.c.DeadLetters()
	if err := h.c.DropDeadLetter(dead[0].ID); err != nil {
		t.Fatal(err)
	}
	if err := h.c.DropDeadLetter(dead[0].ID); !errors.Is(err, ErrNoDeadLetter) {
		t.Errorf("second drop = %v, want ErrNoDeadLetter", err)
	}
	if got := h.c.DeadLetters(); len(got) != 1 || got[0].ID != dead[1].ID {
		t.Errorf("dead letters = %+v, want only %d", got, dead[1].ID)
	}
}

func TestRetryAllRetriesEveryDeadLetter(t *testing.T) {
	h := newHarness(t, localConfig(failingRule(1)), handlerFails, 1)
	h.start()
	h.c.Handle(died("a", "ev1"))
	h.c.Handle(died("b", "ev2"))
	h.waitLog("on_failure command ran", 2)
	n, err := h.c.RetryAllDeadLetters()
	if err != nil || n != 2 {
		t.Fatalf("RetryAllDeadLetters = %d, %v; want 2", n, err)
	}
	h.waitLog("on_failure command ran", 4) // they fail again, and are dead again
	if n := h.c.DeadLetterCount(); n != 2 {
		t.Errorf("%d dead letters, want 2 again", n)
	}
}

func TestDeadLettersBeyondTheLimitDropTheOldest(t *testing.T) {
	runner := &controllertest.Runner{Func: handlerFails}
	logs := &controllertest.LogRecorder{}
	c := New(Options{Config: localConfig(failingRule(1)), Runner: runner, Workers: 1, DeadLetterLimit: 2})
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), logs.Logger()))
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, time.Second) }()
	defer func() { cancel(); <-done }()
	if _, err := logs.WaitFor(ctxTimeout(t), "Started workers", 1); err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"ev1", "ev2", "ev3"} {
		c.Handle(died("db", id))
	}
	if _, err := logs.WaitFor(ctxTimeout(t), "on_failure command ran", 3); err != nil {
		t.Fatal(err)
	}
	dead := c.DeadLetters()
	if len(dead) != 2 || dead[0].Event.ID != "ev2" || dead[1].Event.ID != "ev3" {
		t.Errorf("dead letters = %+v, want ev2 and ev3 (ev1, the oldest, dropped)", dead)
	}
	if len(logs.Find("Dropping the oldest dead letter: the list is full")) != 1 {
		t.Errorf("no log line for the dropped letter")
	}
}

func TestDeadLettersSurviveARestartInTheStateFileAndNewDeliveriesTakeIDsAboveThem(t *testing.T) {
	dir := t.TempDir()
	cfg := localConfig(failingRule(1))
	store, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	runner := &controllertest.Runner{Func: handlerFails}
	logs := &controllertest.LogRecorder{}
	c := New(Options{Config: cfg, Runner: runner, Workers: 1, Journal: store})
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), logs.Logger()))
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, time.Second) }()
	c.Handle(died("db", "ev1"))
	c.Handle(died("db", "ev2"))
	if _, err := logs.WaitFor(ctxTimeout(t), "on_failure command ran", 2); err != nil {
		t.Fatal(err)
	}
	before := c.DeadLetters()
	if err := c.DropDeadLetter(before[1].ID); err != nil {
		t.Fatal(err)
	}
	cancel()
	<-done
	if err := store.Flush(nil); err != nil {
		t.Fatal(err)
	}
	if err := store.Close(); err != nil {
		t.Fatal(err)
	}

	store, err = checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	var records []JournaledDelivery
	for _, r := range store.State().DeadLetters {
		records = append(records, JournaledDelivery{Seq: r.Seq, Data: r.Data})
	}
	if n := len(store.State().Deliveries); n != 0 {
		t.Errorf("%d pending deliveries in the state file, want 0: both were given up", n)
	}
	c2 := New(Options{Config: cfg, Runner: runner, Journal: store, DeadLetterRecords: records})
	after := c2.DeadLetters()
	if len(after) != 1 || after[0].ID != before[0].ID || after[0].Event.ID != "ev1" || after[0].Stderr != "boom\n" || after[0].ExitCode != 3 {
		t.Fatalf("dead letters after the restart = %+v, want ev1's alone, as before", after)
	}
	seq, err := c2.RetryDeadLetter(after[0].ID)
	if err != nil {
		t.Fatal(err)
	}
	if seq <= after[0].ID {
		t.Errorf("the retry's delivery ID %d is not above the kept dead letter's %d", seq, after[0].ID)
	}
}

func TestADeadLetterWhoseRuleIsGoneCannotBeRetriedAndStays(t *testing.T) {
	h := newHarness(t, localConfig(failingRule(1)), handlerFails, 1)
	h.start()
	h.c.Handle(died("db", "ev1"))
	h.waitLog("on_failure command ran", 1)
	id := h.c.DeadLetters()[0].ID
	h.c.SetRules(localConfig(config.Rule{Name: "other", Types: []string{"die"}, Action: config.Action{Command: "x"}}))
	if _, err := h.c.RetryDeadLetter(id); !errors.Is(err, ErrRuleGone) {
		t.Errorf("RetryDeadLetter = %v, want ErrRuleGone", err)
	}
	if n := h.c.DeadLetterCount(); n != 1 {
		t.Errorf("%d dead letters, want the one kept", n)
	}
}

func TestDryRunStartsNoHandlerAndLogsWouldRunWithTheEnvironment(t *testing.T) {
	runner := &controllertest.Runner{}
	logs := &controllertest.LogRecorder{}
	c := New(Options{Config: localConfig(failingRule(1)), Runner: runner, Workers: 1, DryRun: true, Environ: []string{"SECRET_PATH=/x"}})
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), logs.Logger()))
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx, time.Second) }()
	defer func() { cancel(); <-done }()
	c.Handle(died("db", "ev1"))
	found, err := logs.WaitFor(ctxTimeout(t), "Would run", 1)
	if err != nil {
		t.Fatal(err)
	}
	envs, _ := found[0].Values["env"].([]string)
	joined := strings.Join(envs, "\n")
	for _, want := range []string{"EVENT_ID=ev1", "EVENTSD_RULE=promote", "FROM_CONTAINER=db", "SECRET_PATH=/x"} {
		if !strings.Contains(joined, want) {
			t.Errorf("Would run env lacks %s: %q", want, envs)
		}
	}
	if found[0].Values["command"] != "handler" {
		t.Errorf("Would run command = %v", found[0].Values["command"])
	}
	if _, err := logs.WaitFor(ctxTimeout(t), "Handler succeeded", 1); err != nil {
		t.Fatal(err)
	}
	if n := len(runner.Started()); n != 0 {
		t.Errorf("%d handlers started in a dry run, want 0", n)
	}
	if c.Pending() != 0 || c.DeadLetterCount() != 0 {
		t.Errorf("pending %d, dead %d; want the delivery done", c.Pending(), c.DeadLetterCount())
	}
}

// scripts returns the scripts of cmds.
func scripts(cmds []reconcile.Command) []string {
	out := make([]string, len(cmds))
	for i, c := range cmds {
		out[i] = c.Script
	}
	return out
}

// ctxTimeout returns a context that bounds one wait of t.
func ctxTimeout(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	t.Cleanup(cancel)
	return ctx
}
