package controller

import (
	"context"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/reconcile"
)

// dryRunner is the Runner of a dry run (Options.DryRun): it starts no
// process, logs what it would run, and reports a success, so that a delivery
// is done after one "Would run" and a state rule's set counts as run.
type dryRunner struct{}

// Run logs cmd as "Would run" with the logger of ctx: the command, its full
// environment (the handler's variables, EVENTSD_RULE and FROM_ENGINE among
// them) and its stdin.
func (dryRunner) Run(ctx context.Context, cmd reconcile.Command) (reconcile.Result, error) {
	logr.FromContextOrDiscard(ctx).Info("Would run", "command", cmd.Script, "env", cmd.Env, "stdin", string(cmd.Stdin),
		"timeout", cmd.Timeout)
	return reconcile.Result{}, nil
}

// Send logs the webhook w as "Would send": a dry run sends nothing.
func (dryRunner) Send(ctx context.Context, w reconcile.Webhook) (reconcile.Result, error) {
	logr.FromContextOrDiscard(ctx).Info("Would send", "url", w.URL, "method", w.Method, "body", string(w.Body),
		"idempotencyKey", w.IdempotencyKey)
	return reconcile.Result{}, nil
}
