package reconcile

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Headers the WebhookClient sets on every request.
const (
	// HeaderIdempotencyKey carries Webhook.IdempotencyKey: the same for
	// every attempt of one delivery (the event's EVENT_ID).
	HeaderIdempotencyKey = "Idempotency-Key"
	// HeaderSignature carries "sha256=" and the hex HMAC-SHA256 of the
	// body under Webhook.Secret.
	HeaderSignature = "X-Eventsd-Signature"
)

// Webhook is one webhook request. The zero value of Method is POST, of
// Timeout no timeout.
type Webhook struct {
	// URL is where the request goes: http:// or https://.
	URL string
	// Method is the HTTP method; "" means POST.
	Method string
	// Headers are set on the request before the daemon's own.
	Headers map[string]string
	// Body is the request body, sent as application/json.
	Body []byte
	// IdempotencyKey, when not empty, is sent as Idempotency-Key.
	IdempotencyKey string
	// Secret, when not empty, signs the body (X-Eventsd-Signature).
	Secret []byte
	// Timeout bounds the request, response body included; zero means none.
	Timeout time.Duration
	// TLS is the client TLS material of an https:// URL; nil means the
	// system's roots and no client certificate.
	TLS *WebhookTLS
}

// WebhookTLS names the PEM files of a webhook's TLS, read when a request
// needs them and again when one of them changes on disk.
type WebhookTLS struct {
	// CA is the CA file; "" means the system's roots.
	CA string
	// Cert and Key are the client certificate and its key; both or neither.
	Cert, Key string
	// Verify checks the server's certificate (and name).
	Verify bool
}

// WebhookError is the error of a webhook request that reached no 2xx
// answer, so that the caller can tell a retry from a permanent failure.
type WebhookError struct {
	// Status is the HTTP status of the answer; 0 when there was none (a
	// network error, a TLS problem).
	Status int
	// Permanent reports that trying again cannot help: a 3xx or a 4xx
	// other than 408 and 429.
	Permanent bool
	// RetryAfter is the wait the server asked for (Retry-After of a 429,
	// a 503 or any retried answer); valid when HasRetryAfter.
	RetryAfter    time.Duration
	HasRetryAfter bool
	// Err is the cause of a failure without an answer.
	Err error
}

// Error describes the failure.
func (e *WebhookError) Error() string {
	if e.Status == 0 {
		return "webhook request failed: " + e.Err.Error()
	}
	s := fmt.Sprintf("webhook answered %d %s", e.Status, http.StatusText(e.Status))
	if e.Permanent {
		s += " (permanent, not retried)"
	}
	return s
}

// Unwrap returns the cause.
func (e *WebhookError) Unwrap() error { return e.Err }

// IsPermanent reports whether err is a webhook failure that no retry can
// fix.
func IsPermanent(err error) bool {
	var we *WebhookError
	return errors.As(err, &we) && we.Permanent
}

// RetryAfterOf returns the wait a webhook's server asked for before the
// next attempt, if err carries one.
func RetryAfterOf(err error) (time.Duration, bool) {
	var we *WebhookError
	if errors.As(err, &we) && we.HasRetryAfter {
		return we.RetryAfter, true
	}
	return 0, false
}

// WebhookOptions configures a WebhookClient. The zero value is ready to use.
type WebhookOptions struct {
	// MaxOutput is the number of bytes of a response body kept in
	// Result.Stdout; zero or less means DefaultMaxOutput.
	MaxOutput int
	// Now tells the time of a Retry-After date; nil means time.Now.
	Now func() time.Time
}

// WebhookClient sends webhooks. It keeps one HTTP transport (and its idle
// connections) per TLS setting. It is safe for concurrent use.
type WebhookClient struct {
	maxOutput int
	now       func() time.Time
	mu        sync.Mutex
	// transports holds a transport per TLS setting (nil: none), rebuilt
	// when a file of the setting changes.
	transports map[WebhookTLS]*transportEntry
	plain      *http.Transport
}

// NewWebhookClient returns a client configured by opts.
func NewWebhookClient(opts WebhookOptions) *WebhookClient {
	c := &WebhookClient{maxOutput: opts.MaxOutput, now: opts.Now, transports: map[WebhookTLS]*transportEntry{}}
	if c.maxOutput <= 0 {
		c.maxOutput = DefaultMaxOutput
	}
	if c.now == nil {
		c.now = time.Now
	}
	c.plain = newTransport(nil)
	return c
}

// Send sends w once and reports how it went. The error is nil iff the
// server answered 2xx; otherwise it is a *WebhookError (an answer, or no
// answer), or wraps ErrTimeout after w.Timeout, or ctx.Err() when ctx was
// done. Result.Stdout holds the start of the response body, ExitCode is 0
// on success and -1 otherwise.
func (c *WebhookClient) Send(ctx context.Context, w Webhook) (res Result, err error) {
	res.ExitCode = -1
	if ctx.Err() != nil {
		return res, fmt.Errorf("webhook not sent: %w", ctx.Err())
	}
	start := time.Now()
	defer func() { res.Duration = time.Since(start) }()
	tr, err := c.transport(w.TLS)
	if err != nil {
		return res, &WebhookError{Err: err}
	}
	reqCtx := ctx
	if w.Timeout > 0 {
		var cancel context.CancelFunc
		reqCtx, cancel = context.WithTimeout(ctx, w.Timeout)
		defer cancel()
	}
	method := w.Method
	if method == "" {
		method = http.MethodPost
	}
	req, err := http.NewRequestWithContext(reqCtx, method, w.URL, bytes.NewReader(w.Body))
	if err != nil {
		return res, &WebhookError{Permanent: true, Err: err}
	}
	for k, v := range w.Headers {
		req.Header.Set(k, v)
	}
	req.Header.Set("Content-Type", "application/json")
	if w.IdempotencyKey != "" {
		req.Header.Set(HeaderIdempotencyKey, w.IdempotencyKey)
	}
	if len(w.Secret) > 0 {
		req.Header.Set(HeaderSignature, Sign(w.Secret, w.Body))
	}
	client := &http.Client{
		Transport: tr,
		// A webhook that redirects is misconfigured: a POST must not turn
		// into a GET elsewhere. The 3xx is the answer.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	resp, err := client.Do(req)
	if err == nil {
		res.Stdout, res.Truncated, err = readBody(resp.Body, c.maxOutput)
		resp.Body.Close()
	}
	switch {
	case ctx.Err() != nil:
		return res, fmt.Errorf("webhook cancelled: %w", ctx.Err())
	case reqCtx.Err() != nil:
		res.TimedOut = true
		return res, fmt.Errorf("webhook: %w after %s", ErrTimeout, w.Timeout)
	case err != nil:
		return res, &WebhookError{Err: err}
	}
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		res.ExitCode = 0
		return res, nil
	}
	return res, c.statusError(resp)
}

// statusError classifies a non-2xx answer: 408, 429 and 5xx are retried,
// with the server's Retry-After when it gave one; the rest is permanent.
func (c *WebhookClient) statusError(resp *http.Response) error {
	e := &WebhookError{Status: resp.StatusCode}
	switch s := resp.StatusCode; {
	case s == http.StatusRequestTimeout, s == http.StatusTooManyRequests, s >= 500:
		e.RetryAfter, e.HasRetryAfter = parseRetryAfter(resp.Header.Get("Retry-After"), c.now())
	default:
		e.Permanent = true
	}
	return e
}

// parseRetryAfter reads a Retry-After value (RFC 9110 10.2.3): a number of
// seconds, or an HTTP date (a date past gives 0). Anything else is ignored.
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// readBody returns the first max bytes of body, whether there was more,
// and reads (a bounded amount of) the rest so the connection can be reused.
func readBody(body io.Reader, limit int) ([]byte, bool, error) {
	b, err := io.ReadAll(io.LimitReader(body, int64(limit)+1))
	truncated := len(b) > limit
	if truncated {
		b = b[:limit]
		_, _ = io.CopyN(io.Discard, body, 1<<20)
	}
	return b, truncated, err
}

// Sign returns the X-Eventsd-Signature of body under secret:
// "sha256=" and the hex HMAC-SHA256.
func Sign(secret, body []byte) string {
	m := hmac.New(sha256.New, secret)
	m.Write(body)
	return "sha256=" + hex.EncodeToString(m.Sum(nil))
}
