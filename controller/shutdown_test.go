package controller

import (
	"context"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/reconcile"
)

func TestShutdownWaitsForRunningHandler(t *testing.T) {
	release := make(chan struct{})
	var ctxErr error
	run := func(ctx context.Context, cmd reconcile.Command) (reconcile.Result, error) {
		res, err := blockUntil(ctx, release)
		ctxErr = ctx.Err()
		return res, err
	}
	h := newHarness(t, localConfig(config.Rule{Types: []string{"start"}, Action: config.Action{Command: "x"}}), run, 2)
	h.start()
	h.c.Handle(start("a", "ev1"))
	h.waitStarted(1)
	h.cancel()
	h.waitLog("Shutting down, waiting for running handlers", 1)
	h.c.Handle(start("b", "ev2")) // ignored: shutting down
	select {
	case <-h.done:
		t.Fatal("Run returned while a handler was running")
	default:
	}
	close(release)
	if err := h.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	fin := h.runner.Finished()
	if len(fin) != 1 || fin[0].Err != nil || ctxErr != nil {
		t.Errorf("runs %v (ctx error %v), want one that finished on its own", fin, ctxErr)
	}
	if l := h.logs.Find("Shutting down with pending deliveries"); len(l) != 0 {
		t.Errorf("logged %v, want nothing dropped", l)
	}
	if l := h.logs.Find("Ignoring event after shutdown"); len(l) != 1 || l[0].Level != 1 {
		t.Errorf("logged %v, want one V(1) line for the ignored event", l)
	}
	if n := h.c.Pending(); n != 0 {
		t.Errorf("Pending() = %d, want 0", n)
	}
}

func TestShutdownCancelsHandlerAfterTimeout(t *testing.T) {
	const timeout = 100 * time.Millisecond
	run := func(ctx context.Context, cmd reconcile.Command) (reconcile.Result, error) {
		return blockUntil(ctx, nil)
	}
	h := newHarness(t, localConfig(config.Rule{Types: []string{"start"}, Action: config.Action{Command: "x"}}), run, 1)
	h.shutdownTimeout = timeout
	h.start()
	h.c.Handle(start("a", "ev1"))
	h.c.Handle(start("b", "ev2")) // never starts: one worker
	h.c.Handle(start("c", "ev3"))
	h.waitStarted(1)
	begin := time.Now()
	if err := h.stop(); err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(begin); took < timeout {
		t.Errorf("Run returned after %v, want the %v shutdown timeout first", took, timeout)
	}
	fin := h.runner.Finished()
	if len(fin) != 1 || fin[0].Err == nil {
		t.Fatalf("runs %v, want one cancelled", fin)
	}
	h.waitLog("Shutdown timeout, stopping running handlers", 1)
	h.waitLog("Handler stopped by shutdown", 1)
	dropped := h.waitLog("Shutting down with pending deliveries", 1)
	if dropped[0].Values["dropped"] != 3 {
		t.Errorf("dropped = %v, want 3 (the stopped one and the two never started)", dropped[0].Values["dropped"])
	}
	if l := h.logs.Find("Dropped delivery"); len(l) != 3 {
		t.Errorf("%d Dropped delivery lines, want 3", len(l))
	}
	if l := h.logs.Find("Handler failed"); len(l) != 0 {
		t.Errorf("a stopped handler was logged as failed: %v", l)
	}
}

func TestHandleAfterShutdownDoesNothing(t *testing.T) {
	h := newHarness(t, localConfig(config.Rule{Types: []string{"start"}, Action: config.Action{Command: "x"}}), nil, 1)
	h.start()
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	h.c.Handle(start("a", "ev1"))
	if n := h.c.Pending(); n != 0 {
		t.Errorf("Pending() = %d, want 0", n)
	}
	if l := h.logs.Find("Ignoring event after shutdown"); len(l) != 1 || l[0].Level != 1 {
		t.Errorf("logged %v, want one V(1) line", l)
	}
	if err := h.c.Run(t.Context(), 0); err == nil {
		t.Error("second Run returned nil, want an error")
	}
}

func TestHandlerFailingDuringShutdownIsNotRetried(t *testing.T) {
	release := make(chan struct{})
	run := func(ctx context.Context, cmd reconcile.Command) (reconcile.Result, error) {
		<-release
		return fail()
	}
	rule := config.Rule{Types: []string{"start"}, Action: config.Action{Command: "x", Retry: config.Retry{MaxAttempts: 5, Backoff: time.Millisecond}}}
	h := newHarness(t, localConfig(rule), run, 1)
	h.start()
	h.c.Handle(start("a", "ev1"))
	h.waitStarted(1)
	h.cancel()
	h.waitLog("Shutting down, waiting for running handlers", 1)
	close(release)
	if err := h.stop(); err != nil {
		t.Fatal(err)
	}
	if n := len(h.runner.Started()); n != 1 {
		t.Errorf("%d attempts, want 1: no retry during shutdown", n)
	}
	if f := h.logs.Find("Handler failed"); len(f) != 1 || f[0].Values["willRetry"] != false {
		t.Errorf("failure lines %v, want one with willRetry=false", f)
	}
	if d := h.logs.Find("Shutting down with pending deliveries"); len(d) != 1 || d[0].Values["dropped"] != 1 {
		t.Errorf("dropped lines %v, want dropped=1", d)
	}
}
