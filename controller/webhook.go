package controller

import (
	"context"
	"strings"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/reconcile"
)

var _ WebhookSender = (*reconcile.WebhookClient)(nil)

// WebhookSender sends a rule's webhook. *reconcile.WebhookClient is the real
// one. Send returns a nil error iff the server answered 2xx; a
// reconcile.WebhookError tells a permanent failure and a Retry-After.
type WebhookSender interface {
	Send(ctx context.Context, w reconcile.Webhook) (reconcile.Result, error)
}

// runActions makes one attempt of what rule r does for d: its command,
// then its webhook, with the handler's JSON (stdin) and environment (env).
// A delivery succeeds when both did. The command runs first (it acts; the
// webhook tells); once it succeeded it is not run again by the later
// attempts of the same delivery, which only send the webhook again. A
// failed command sends no webhook in that attempt.
func (c *Controller) runActions(ctx context.Context, r *rule, d *delivery, env []string) (reconcile.Result, error) {
	var cmd reconcile.Result
	if r.cfg.Command != "" && !d.commandDone {
		res, err := c.runner.Run(ctx, reconcile.Command{
			Script:  r.cfg.Command,
			Env:     env,
			Stdin:   d.stdin,
			Timeout: r.cfg.Timeout,
			Grace:   c.grace,
		})
		if err != nil || r.cfg.Webhook == nil {
			return res, err
		}
		d.commandDone = true
		cmd = res
	}
	if r.cfg.Webhook == nil {
		return cmd, nil
	}
	res, err := c.webhooks.Send(ctx, c.webhookRequest(r.cfg.Webhook, d))
	res.Duration += cmd.Duration
	return res, err
}

// webhookRequest is the request of webhook w for d: the handler's JSON as
// the body, the event's ID as the idempotency key (the same for every
// attempt), the secret read from the daemon's environment.
func (c *Controller) webhookRequest(w *config.Webhook, d *delivery) reconcile.Webhook {
	req := reconcile.Webhook{
		URL:            w.URL,
		Method:         w.Method,
		Headers:        w.Headers,
		Body:           d.stdin,
		IdempotencyKey: d.Event.ID,
		Timeout:        w.Timeout,
	}
	if w.SecretEnv != "" {
		if s := lookupEnv(c.environ, w.SecretEnv); s != "" {
			req.Secret = []byte(s)
		}
	}
	if t := w.TLS; t != nil {
		req.TLS = &reconcile.WebhookTLS{CA: t.CA, Cert: t.Cert, Key: t.Key, Verify: t.Verify}
	}
	return req
}

// lookupEnv returns the value of name in environ (KEY=VALUE, the last one
// wins, as in a shell), "" when it is not there.
func lookupEnv(environ []string, name string) string {
	for i := len(environ) - 1; i >= 0; i-- {
		if v, ok := strings.CutPrefix(environ[i], name+"="); ok {
			return v
		}
	}
	return ""
}

// retryDelay returns the wait before the next attempt of key's head
// delivery after it failed with err: the rule's backoff, or the wait the
// webhook's server asked for (Retry-After), never more than max_backoff.
// It counts the failure in the limiter either way.
func (c *Controller) retryDelay(key Key, r *rule, err error) time.Duration {
	delay := c.limiter.When(key)
	if ra, ok := reconcile.RetryAfterOf(err); ok {
		return min(ra, r.retry.maxBackoff)
	}
	return delay
}

// actionLimit is the longest one attempt of cfg's actions may take
// without its grace: its command's timeout and its webhook's.
func actionLimit(cfg *config.Rule) time.Duration {
	d := cfg.Timeout
	if w := cfg.Webhook; w != nil {
		if cfg.Command == "" {
			d = 0
		}
		d += w.Timeout
	}
	return d
}
