package controller

import (
	"context"
	"fmt"
	"runtime/debug"
	"strconv"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/reconcile"
)

// Variables of an on_failure command, on top of its rule's handler
// environment.
const (
	envFailedExitCode = "EVENTSD_FAILED_EXIT_CODE"
	envFailedOutput   = "EVENTSD_FAILED_OUTPUT"
	// failedOutputMax bounds EVENTSD_FAILED_OUTPUT: the last bytes of the
	// handler's stdout then stderr, far below Linux's 128 KiB limit on one
	// variable.
	failedOutputMax = 16 << 10
)

// runOnFailure runs the on_failure command of r once for d, given up after
// its last attempt ended with last: the handler's environment (EVENT_ATTEMPT
// that of the last attempt) plus EVENTSD_FAILED_EXIT_CODE and
// EVENTSD_FAILED_OUTPUT, the same JSON on stdin, the rule's timeout. It is not
// retried; its failure is logged.
func (c *Controller) runOnFailure(ctx context.Context, log logr.Logger, r *rule, d *delivery, last reconcile.Result) {
	if r.cfg.OnFailure == "" || ctx.Err() != nil {
		return
	}
	res, err := c.runFailureCommand(ctx, log, r, d, last)
	kv := append([]any{"exitCode", res.ExitCode, "duration", res.Duration}, outputKV(res)...)
	if err != nil {
		log.Error(err, "on_failure command failed", kv...)
		return
	}
	log.Info("on_failure command ran", kv...)
}

// runFailureCommand makes the one run of an on_failure command; a panic on
// the way is recovered into an error, as in runDelivery.
func (c *Controller) runFailureCommand(ctx context.Context, log logr.Logger, r *rule, d *delivery, last reconcile.Result) (res reconcile.Result, err error) {
	c.running.Add(1)
	defer c.running.Add(-1)
	defer func() {
		if p := recover(); p != nil {
			res, err = reconcile.Result{ExitCode: -1}, fmt.Errorf("panic: %v [recovered]", p)
			log.Error(err, "Observed a panic in an on_failure run", "stack", string(debug.Stack()))
		}
	}()
	ev := d.Event
	env := eventEnv(r.env, r.name, ev, c.engineURL(ev.Engine), d.Attempt)
	out := append(append([]byte{}, last.Stdout...), last.Stderr...)
	env = append(env,
		envFailedExitCode+"="+strconv.Itoa(last.ExitCode),
		envFailedOutput+"="+lastBytes(out, failedOutputMax),
	)
	return c.runner.Run(ctx, reconcile.Command{
		Script:  r.cfg.OnFailure,
		Env:     env,
		Stdin:   d.stdin,
		Timeout: r.cfg.Timeout,
		Grace:   c.grace,
	})
}
