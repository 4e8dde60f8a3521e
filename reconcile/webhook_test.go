package reconcile

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// receiver is a real webhook endpoint on loopback: it answers each request
// with the next of answers (the last one repeats) and records what came.
type receiver struct {
	srv     *httptest.Server
	n       atomic.Int32
	answers []func(w http.ResponseWriter)
	got     chan *http.Request
	bodies  chan []byte
}

func newReceiver(t *testing.T, tlsServer bool, answers ...func(w http.ResponseWriter)) *receiver {
	t.Helper()
	r := &receiver{answers: answers, got: make(chan *http.Request, 16), bodies: make(chan []byte, 16)}
	h := http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		b, _ := io.ReadAll(req.Body)
		r.got <- req
		r.bodies <- b
		i := min(int(r.n.Add(1))-1, len(r.answers)-1)
		r.answers[i](w)
	})
	if tlsServer {
		r.srv = httptest.NewTLSServer(h)
	} else {
		r.srv = httptest.NewServer(h)
	}
	t.Cleanup(r.srv.Close)
	return r
}

func status(code int, header ...string) func(w http.ResponseWriter) {
	return func(w http.ResponseWriter) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		w.WriteHeader(code)
		io.WriteString(w, http.StatusText(code))
	}
}

func TestWebhookSendsSignedBodyWithIdempotencyKey(t *testing.T) {
	rcv := newReceiver(t, false, status(http.StatusAccepted))
	body := []byte(`{"rule":"r","event":{"id":"ev-1"}}` + "\n")
	secret := []byte("s3cret")
	res, err := NewWebhookClient(WebhookOptions{}).Send(context.Background(), Webhook{
		URL: rcv.srv.URL + "/hook", Method: http.MethodPut, Headers: map[string]string{"X-Team": "db"},
		Body: body, IdempotencyKey: "ev-1", Secret: secret, Timeout: 5 * time.Second,
	})
	if err != nil || res.ExitCode != 0 || string(res.Stdout) != "Accepted" {
		t.Fatalf("Send = %+v, %v; want success with the body Accepted", res, err)
	}
	req, got := <-rcv.got, <-rcv.bodies
	mac := hmac.New(sha256.New, secret)
	mac.Write(got)
	for name, want := range map[string]string{
		"Idempotency-Key": "ev-1", "Content-Type": "application/json", "X-Team": "db",
		"X-Eventsd-Signature": "sha256=" + hex.EncodeToString(mac.Sum(nil)),
	} {
		if v := req.Header.Get(name); v != want {
			t.Errorf("%s = %q, want %q", name, v, want)
		}
	}
	if req.Method != http.MethodPut || req.URL.Path != "/hook" || string(got) != string(body) {
		t.Errorf("got %s %s %q, want PUT /hook with the body", req.Method, req.URL.Path, got)
	}
}

func TestWebhookWithoutSecretSendsNoSignature(t *testing.T) {
	rcv := newReceiver(t, false, status(http.StatusOK))
	if _, err := NewWebhookClient(WebhookOptions{}).Send(context.Background(), Webhook{URL: rcv.srv.URL, Body: []byte("{}")}); err != nil {
		t.Fatal(err)
	}
	if req := <-rcv.got; req.Header.Get(HeaderSignature) != "" || req.Method != http.MethodPost {
		t.Errorf("%s %q; want POST without signature", req.Method, req.Header.Get(HeaderSignature))
	}
}

func TestWebhookClassifiesAnswers(t *testing.T) {
	now := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name       string
		answer     func(w http.ResponseWriter)
		permanent  bool
		retryAfter time.Duration // -1: none
	}{
		{"500 retried", status(500), false, -1},
		{"503 with Retry-After seconds", status(503, "Retry-After", "7"), false, 7 * time.Second},
		{"429 with Retry-After seconds", status(429, "Retry-After", "3"), false, 3 * time.Second},
		{"429 with Retry-After date", status(429, "Retry-After", now.Add(90*time.Second).Format(http.TimeFormat)), false, 90 * time.Second},
		{"429 with Retry-After date past", status(429, "Retry-After", now.Add(-time.Hour).Format(http.TimeFormat)), false, 0},
		{"429 with garbage Retry-After", status(429, "Retry-After", "soon"), false, -1},
		{"408 retried", status(408), false, -1},
		{"400 permanent", status(400), true, -1},
		{"404 permanent", status(404, "Retry-After", "3"), true, -1},
		{"302 permanent, not followed", status(302, "Location", "/elsewhere"), true, -1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rcv := newReceiver(t, false, tt.answer)
			c := NewWebhookClient(WebhookOptions{Now: func() time.Time { return now }})
			res, err := c.Send(context.Background(), Webhook{URL: rcv.srv.URL, Body: []byte("{}"), Timeout: 5 * time.Second})
			var we *WebhookError
			if !errors.As(err, &we) || res.ExitCode != -1 {
				t.Fatalf("Send = %+v, %v; want a *WebhookError", res, err)
			}
			if IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v (%v)", !tt.permanent, tt.permanent, err)
			}
			ra, ok := RetryAfterOf(err)
			if tt.retryAfter < 0 && ok || tt.retryAfter >= 0 && (!ok || ra != tt.retryAfter) {
				t.Errorf("RetryAfterOf = %s, %v; want %s", ra, ok, tt.retryAfter)
			}
			if n := rcv.n.Load(); n != 1 {
				t.Errorf("%d requests, want 1 (no redirect followed)", n)
			}
		})
	}
}

func TestWebhookTimesOutOnAServerThatNeverAnswers(t *testing.T) {
	release := make(chan struct{})
	rcv := newReceiver(t, false, func(w http.ResponseWriter) { <-release })
	defer close(release)
	res, err := NewWebhookClient(WebhookOptions{}).Send(context.Background(), Webhook{URL: rcv.srv.URL, Timeout: 100 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) || !res.TimedOut || IsPermanent(err) {
		t.Fatalf("Send = %+v, %v; want a timeout, retried", res, err)
	}
}

func TestWebhookNetworkErrorIsRetried(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close() // nothing listens: connection refused
	_, err = NewWebhookClient(WebhookOptions{}).Send(context.Background(), Webhook{URL: "http://" + addr + "/", Timeout: 5 * time.Second})
	var we *WebhookError
	if !errors.As(err, &we) || we.Status != 0 || we.Permanent || !strings.Contains(err.Error(), "refused") {
		t.Fatalf("Send error = %v; want a retried network error", err)
	}
}

func TestWebhookCancelledByContext(t *testing.T) {
	release := make(chan struct{})
	rcv := newReceiver(t, false, func(w http.ResponseWriter) { <-release })
	defer close(release)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	_, err := NewWebhookClient(WebhookOptions{}).Send(ctx, Webhook{URL: rcv.srv.URL})
	if !errors.Is(err, context.Canceled) || errors.Is(err, ErrTimeout) {
		t.Fatalf("Send error = %v; want context.Canceled", err)
	}
}

func TestWebhookTLSVerifiesWithTheConfiguredCA(t *testing.T) {
	rcv := newReceiver(t, true, status(http.StatusOK))
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	block := &pem.Block{Type: "CERTIFICATE", Bytes: rcv.srv.Certificate().Raw}
	if err := os.WriteFile(ca, pem.EncodeToMemory(block), 0o600); err != nil {
		t.Fatal(err)
	}
	c := NewWebhookClient(WebhookOptions{})
	w := Webhook{URL: rcv.srv.URL, Timeout: 5 * time.Second}
	if _, err := c.Send(context.Background(), w); err == nil || IsPermanent(err) {
		t.Errorf("without the CA: %v; want a retried certificate error", err)
	}
	w.TLS = &WebhookTLS{CA: ca, Verify: true}
	if _, err := c.Send(context.Background(), w); err != nil {
		t.Errorf("with the CA: %v", err)
	}
	w.TLS = &WebhookTLS{CA: filepath.Join(dir, "missing.pem"), Verify: true}
	if _, err := c.Send(context.Background(), w); err == nil || IsPermanent(err) || !strings.Contains(err.Error(), "missing.pem") {
		t.Errorf("missing CA file: %v; want a retried error naming it", err)
	}
	w.TLS = &WebhookTLS{Verify: false}
	if _, err := c.Send(context.Background(), w); err != nil {
		t.Errorf("verify false: %v", err)
	}
}
