package controller

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/reconcile"
)

// hookReceiver is a real webhook endpoint on loopback that answers the
// n-th request with codes[n] (the last repeats), checks each signature
// with secret, and records the requests.
type hookReceiver struct {
	t      *testing.T
	srv    *httptest.Server
	secret string
	codes  []int
	header http.Header

	mu   sync.Mutex
	reqs []hookRequest
}

type hookRequest struct {
	key, sig string
	body     []byte
}

func newHookReceiver(t *testing.T, secret string, header http.Header, codes ...int) *hookReceiver {
	r := &hookReceiver{t: t, secret: secret, codes: codes, header: header}
	r.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, hookRequest{key: req.Header.Get("Idempotency-Key"), sig: req.Header.Get("X-Eventsd-Signature"), body: b})
		code := r.codes[min(len(r.reqs), len(r.codes))-1]
		r.mu.Unlock()
		for k, v := range r.header {
			w.Header()[k] = v
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(r.srv.Close)
	return r
}

func (r *hookReceiver) requests() []hookRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]hookRequest(nil), r.reqs...)
}

// hookHarness is a harness whose controller sends webhooks with a real
// client, the secret in its environment as HOOK_SECRET.
func hookHarness(t *testing.T, rule config.Rule) *harness {
	cfg := localConfig(rule)
	h := newHarness(t, cfg, nil, 1)
	h.c = New(Options{Config: cfg, Runner: h.runner, Workers: 1, Grace: time.Second,
		Environ: []string{"PATH=/usr/bin:/bin", "HOOK_SECRET=s3cret"}})
	h.start()
	return h
}

func TestWebhookFailsThenSucceedsWithTheSameKeyAndAValidSignature(t *testing.T) {
	rcv := newHookReceiver(t, "s3cret", nil, 503, 500, 200)
	h := hookHarness(t, config.Rule{Name: "notify", Types: []string{"die"}, Action: config.Action{
		Retry:   config.Retry{MaxAttempts: 5, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
		Webhook: &config.Webhook{URL: rcv.srv.URL, Method: http.MethodPost, Timeout: 5 * time.Second, SecretEnv: "HOOK_SECRET"},
	}})
	h.c.Handle(died("db", "ev-7"))
	h.waitLog("Handler succeeded", 1)
	if n := len(h.waitLog("Handler failed", 2)); n != 2 {
		t.Errorf("%d failed attempts logged, want 2", n)
	}
	reqs := rcv.requests()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3", len(reqs))
	}
	for i, r := range reqs {
		if r.key != "ev-7" || r.sig != reconcile.Sign([]byte("s3cret"), r.body) || string(r.body) != string(reqs[0].body) {
			t.Errorf("request %d: key %q sig %q; want ev-7, a valid signature, the same body", i, r.key, r.sig)
		}
	}
	var doc struct {
		Rule  string `json:"rule"`
		Event struct {
			ID string `json:"id"`
		} `json:"event"`
	}
	if err := json.Unmarshal(reqs[0].body, &doc); err != nil || doc.Rule != "notify" || doc.Event.ID != "ev-7" {
		t.Errorf("body %s (%v); want the handler's JSON of rule notify, event ev-7", reqs[0].body, err)
	}
	if len(h.runner.Started()) != 0 {
		t.Errorf("the runner ran %d commands for a webhook-only rule", len(h.runner.Started()))
	}
}

func TestWebhook4xxIsGivenUpAtOnce(t *testing.T) {
	rcv := newHookReceiver(t, "", nil, 422)
	h := hookHarness(t, config.Rule{Name: "notify", Types: []string{"die"}, Action: config.Action{
		Retry:   config.Retry{MaxAttempts: 5, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond},
		Webhook: &config.Webhook{URL: rcv.srv.URL, Timeout: 5 * time.Second},
	}})
	h.c.Handle(died("db", "ev-1"))
	e := h.waitLog("Handler failed, giving up", 1)[0]
	if e.Values["attempts"] != 1 || len(rcv.requests()) != 1 {
		t.Errorf("gave up after %v attempts, %d requests; want 1 and 1", e.Values["attempts"], len(rcv.requests()))
	}
	if st := h.c.RuleStatuses()[0]; st.Runs != 1 || st.Failed != 1 {
		t.Errorf("status %+v, want 1 run, failed", st)
	}
}

func TestWebhook429RetriesAfterRetryAfterNotTheBackoff(t *testing.T) {
	// The backoff is an hour: only Retry-After: 0 brings the retry now.
	rcv := newHookReceiver(t, "", http.Header{"Retry-After": {"0"}}, 429, 204)
	h := hookHarness(t, config.Rule{Name: "notify", Types: []string{"die"}, Action: config.Action{
		Retry:   config.Retry{MaxAttempts: 3, Backoff: time.Hour, MaxBackoff: time.Hour},
		Webhook: &config.Webhook{URL: rcv.srv.URL, Timeout: 5 * time.Second},
	}})
	h.c.Handle(died("db", "ev-1"))
	if e := h.waitLog("Handler failed", 1)[0]; e.Values["after"] != time.Duration(0) {
		t.Errorf("retry after %v, want 0s (Retry-After)", e.Values["after"])
	}
	h.waitLog("Handler succeeded", 1)
}

func TestRetryAfterIsCappedByMaxBackoff(t *testing.T) {
	rcv := newHookReceiver(t, "", http.Header{"Retry-After": {"3600"}}, 503, 200)
	h := hookHarness(t, config.Rule{Name: "notify", Types: []string{"die"}, Action: config.Action{
		Retry:   config.Retry{MaxAttempts: 3, Backoff: time.Millisecond, MaxBackoff: 20 * time.Millisecond},
		Webhook: &config.Webhook{URL: rcv.srv.URL, Timeout: 5 * time.Second},
	}})
	h.c.Handle(died("db", "ev-1"))
	if e := h.waitLog("Handler failed", 1)[0]; e.Values["after"] != 20*time.Millisecond {
		t.Errorf("retry after %v, want 20ms (max_backoff)", e.Values["after"])
	}
	h.waitLog("Handler succeeded", 1)
}

func TestWebhookTimeoutIsRetriedThenGivenUp(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) { <-release }))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	h := hookHarness(t, config.Rule{Name: "notify", Types: []string{"die"}, Action: config.Action{
		Retry:   config.Retry{MaxAttempts: 2, Backoff: time.Millisecond, MaxBackoff: time.Millisecond},
		Webhook: &config.Webhook{URL: srv.URL, Timeout: 50 * time.Millisecond},
	}})
	h.c.Handle(died("db", "ev-1"))
	e := h.waitLog("Handler failed, giving up", 1)[0]
	if e.Values["timedOut"] != true || e.Values["attempts"] != 2 {
		t.Errorf("gave up with %v; want timedOut after 2 attempts", e.Values)
	}
}

func TestCommandThenWebhookRetriesOnlyTheWebhook(t *testing.T) {
	rcv := newHookReceiver(t, "", nil, 500, 200)
	h := hookHarness(t, config.Rule{Name: "promote", Types: []string{"die"}, Action: config.Action{
		Command: "promote",
		Retry:   config.Retry{MaxAttempts: 3, Backoff: time.Millisecond, MaxBackoff: time.Millisecond},
		Webhook: &config.Webhook{URL: rcv.srv.URL, Timeout: 5 * time.Second},
	}})
	h.c.Handle(died("db", "ev-1"))
	h.waitLog("Handler succeeded", 1)
	if n, m := len(h.runner.Finished()), len(rcv.requests()); n != 1 || m != 2 {
		t.Errorf("%d command runs, %d webhook requests; want 1 and 2", n, m)
	}
}

func TestFailedCommandSendsNoWebhook(t *testing.T) {
	rcv := newHookReceiver(t, "", nil, 200)
	cfg := localConfig(config.Rule{Name: "promote", Types: []string{"die"}, Action: config.Action{
		Command: "promote", Retry: config.Retry{MaxAttempts: 1},
		Webhook: &config.Webhook{URL: rcv.srv.URL, Timeout: 5 * time.Second},
	}})
	h := newHarness(t, cfg, func(context.Context, reconcile.Command) (reconcile.Result, error) { return fail() }, 1)
	h.start()
	h.c.Handle(died("db", "ev-1"))
	h.waitLog("Handler failed, giving up", 1)
	if n := len(rcv.requests()); n != 0 {
		t.Errorf("%d webhook requests after the command failed, want 0", n)
	}
}

func TestJournaledWebhookDeliveryIsRecoveredAndSent(t *testing.T) {
	rcv := newHookReceiver(t, "", nil, 200)
	cfg := localConfig(config.Rule{Name: "notify", Types: []string{"die"}, Action: config.Action{
		Webhook: &config.Webhook{URL: rcv.srv.URL, Timeout: 5 * time.Second},
	}})
	// An earlier run journaled the delivery and stopped before sending it.
	j := newMemJournal()
	before := newJournalHarness(t, cfg, j, nil)
	before.c.Handle(died("db", "ev-1"))
	journaled := j.saved()
	if len(journaled) != 1 {
		t.Fatalf("%d deliveries journaled, want 1", len(journaled))
	}
	after := newJournalHarness(t, cfg, newMemJournal(), nil)
	if n, err := after.c.Recover(journaled); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want the webhook's delivery queued", n, err)
	}
	after.start()
	after.waitLog("Handler succeeded", 1)
	if reqs := rcv.requests(); len(reqs) != 1 || reqs[0].key != "ev-1" {
		t.Errorf("requests %v, want one with Idempotency-Key ev-1", reqs)
	}
}
