package controller

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"
	"strings"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/health"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/reconcile"
)

// runWorker processes keys until the queue is shut down and empty; n
// numbers the worker for the watchdog (worker-N).
func (c *Controller) runWorker(ctx context.Context, n int) {
	loop := c.watchdog.Loop("worker-"+strconv.Itoa(n), 0)
	defer c.watchdog.Remove(loop)
	for c.processNextWorkItem(ctx, loop) {
	}
}

// processNextWorkItem takes one key from the queue and runs its head delivery.
// It returns false when the queue is shut down.
func (c *Controller) processNextWorkItem(ctx context.Context, loop *health.Loop) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	// A worker may hold a key for as long as its handler's timeout and grace.
	if limit := actionLimit(c.journalRule(key.Rule).cfg); limit > 0 {
		loop.BeginFor(limit + c.grace + health.DefaultLimit)
	} else {
		loop.Begin()
	}
	defer loop.End()
	// Done lets another worker take the key, and requeues it if it was added
	// while we had it.
	defer c.queue.Done(key)
	if c.stopping.Load() {
		// Shutting down: the queue is drained without starting anything.
		return true
	}
	c.syncKey(ctx, key)
	return true
}

// syncKey runs the head delivery of key, if it is due, and decides what comes
// next: on success or after the last attempt the delivery is popped and the
// key requeued if more are waiting; after a failed attempt the key comes back
// after the rule's backoff, the delivery still at its head, so that the
// deliveries behind it wait.
func (c *Controller) syncKey(ctx context.Context, key Key) {
	d := c.pending.head(key)
	if d == nil {
		// The key was added again after its last delivery was done.
		c.queue.Forget(key)
		return
	}
	r := c.rules.Load().byID[key.Rule]
	if r == nil {
		// The rule was removed by a reload.
		c.dropRemoved(ctx, key)
		return
	}
	if wait := d.NotBefore.Sub(c.clock.Now()); wait > 0 {
		// Woken early by a new event for the key: its head waits for a retry.
		c.queue.AddAfter(key, wait)
		return
	}
	gateEnv, ok := c.gateDelivery(key, d)
	if !ok {
		return
	}
	if c.skipCooldown(ctx, key, r, d) {
		return
	}
	ev := d.Event
	log := logr.FromContextOrDiscard(ctx).WithValues(
		"rule", r.name, "engine", ev.Engine, "container", containerName(ev), "event", ev.ID)
	attempt := d.Attempt + 1
	log.V(1).Info("Running handler", "attempt", attempt, "waited", c.clock.Since(d.Enqueued))

	res, err := c.runDelivery(ctx, log, r, d, gateEnv)
	switch {
	case err == nil:
		// Popped before logging, so that whoever reads the log sees Pending
		// without this delivery.
		c.recordRun(key.Rule, res, nil, false)
		c.startCooldown(key, r)
		c.complete(key, d, "succeeded")
		log.Info("Handler succeeded", append([]any{"attempt", attempt, "duration", res.Duration}, outputKV(res)...)...)

	case ctx.Err() != nil:
		// Stopped by the shutdown timeout: not the handler's failure. The
		// delivery stays pending and is counted as dropped.
		log.Error(err, "Handler stopped by shutdown", append([]any{"attempt", attempt, "duration", res.Duration}, outputKV(res)...)...)

	default:
		d.Attempt = attempt
		// A webhook's 4xx is given up at once, as a permanent exit code is.
		permanent := r.isPermanent(res, err) || reconcile.IsPermanent(err)
		last := permanent || attempt >= r.retry.maxAttempts
		c.recordRun(key.Rule, res, err, last)
		if last {
			// A dead letter, then the rule's on_failure (the key's next
			// delivery waits for it).
			c.giveUp(log, key, r, d, res, err, permanent)
			log.Error(err, "Handler failed, giving up", append([]any{"attempts", attempt, "exitCode", res.ExitCode,
				"timedOut", res.TimedOut, "permanent", permanent, "duration", res.Duration}, outputKV(res)...)...)
			c.runOnFailure(ctx, log, r, d, res)
			return
		}
		if c.stopping.Load() {
			// No retry during shutdown: the delivery is counted as dropped
			// (or kept in the journal, with this attempt counted).
			c.journalPut(d)
			log.Error(err, "Handler failed", append([]any{"attempt", attempt, "exitCode", res.ExitCode,
				"timedOut", res.TimedOut, "duration", res.Duration, "willRetry", false}, outputKV(res)...)...)
			return
		}
		// The queue's own limiter: Forget on the queue clears what When counts.
		delay := c.retryDelay(key, r, err)
		d.NotBefore = c.clock.Now().Add(delay)
		c.journalPut(d)
		log.Error(err, "Handler failed", append([]any{"attempt", attempt, "exitCode", res.ExitCode,
			"timedOut", res.TimedOut, "duration", res.Duration, "willRetry", true, "after", delay}, outputKV(res)...)...)
		c.queue.AddAfter(key, delay)
	}
}

// complete pops d, the head delivery of key, forgets it in the journal (and
// records there that it completed, with outcome), clears the key's failures,
// and requeues the key if more deliveries wait.
func (c *Controller) complete(key Key, d *delivery, outcome string) {
	c.journalComplete(d, outcome)
	more := c.pending.pop(key)
	c.queue.Forget(key)
	if more {
		c.queue.Add(key)
	}
}

// runDelivery makes one attempt of d. A panic on the way (in the Runner, or
// making the environment) is recovered into an error, so one bad run cannot
// take the daemon down; it counts as a failed attempt.
func (c *Controller) runDelivery(ctx context.Context, log logr.Logger, r *rule, d *delivery, gateEnv []string) (res reconcile.Result, err error) {
	c.running.Add(1)
	defer c.running.Add(-1)
	defer func() {
		if p := recover(); p != nil {
			res, err = reconcile.Result{ExitCode: -1}, fmt.Errorf("panic: %v [recovered]", p)
			log.Error(err, "Observed a panic in a handler run", "stack", string(debug.Stack()))
		}
	}()
	ev := d.Event
	engine := c.engine(ev.Engine)
	if d.stdin == nil {
		if d.stdin, err = stdinJSON(r.name, ev, engine); err != nil {
			return reconcile.Result{ExitCode: -1}, fmt.Errorf("encode handler stdin: %w", err)
		}
	}
	url := ""
	if engine != nil {
		url = engine.URL
	}
	return c.runActions(ctx, r, d, append(eventEnv(r.env, r.name, ev, url, d.Attempt+1), gateEnv...))
}

// outputKV returns the log key/values of a handler's output: stdout and stderr
// when not empty (without their last newline), and truncated when the Runner
// dropped some.
func outputKV(res reconcile.Result) []any {
	var kv []any
	if s := strings.TrimSuffix(string(res.Stdout), "\n"); s != "" {
		kv = append(kv, "stdout", s)
	}
	if s := strings.TrimSuffix(string(res.Stderr), "\n"); s != "" {
		kv = append(kv, "stderr", s)
	}
	if res.Truncated {
		kv = append(kv, "truncated", true)
	}
	return kv
}

var _ informer.Handler = (*Controller)(nil)
