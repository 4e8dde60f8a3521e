package monitor

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
)

func TestHTTPServerFlippingBetween200And500(t *testing.T) {
	var failing atomic.Bool
	var gotHost atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost.Store(r.Host)
		if failing.Load() {
			http.Error(w, "database gone", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("all ok\n"))
	}))
	t.Cleanup(srv.Close)
	addr := strings.TrimPrefix(srv.URL, "http://")
	m := fastMonitor("web")
	m.Kind = config.MonitorHTTP
	m.HTTP = &config.HTTPCheck{URL: "http://{{.Address}}/health", Method: "GET", ExpectStatus: []int{200}, BodyContains: "ok",
		Headers: map[string]string{"Host": "web.example"}}
	m.Targets.Addresses = []string{addr}
	rec := newRecorder()
	s := runScheduler(t, Options{Monitors: []config.Monitor{m}, Handler: rec})
	waitFor(t, 2*time.Second, "up", func() bool { r, _ := s.Results().Result("web", "", addr); return r == config.MonitorUp })
	if h, _ := gotHost.Load().(string); h != "web.example" {
		t.Errorf("Host = %q, want the headers' web.example", h)
	}

	for range 2 {
		failing.Store(true)
		ev := rec.next(t, 2*time.Second)
		if ev.Action != config.TypeHTTPError || ev.Monitor.Error != "status 500" || ev.Monitor.Output != "database gone" ||
			ev.Monitor.Address != srv.URL+"/health" {
			t.Fatalf("down event = %s %+v", ev.Action, ev.Monitor)
		}
		failing.Store(false)
		if ev := rec.next(t, 2*time.Second); ev.Action != config.TypeHTTPOK {
			t.Fatalf("up event = %s %+v", ev.Action, ev.Monitor)
		}
	}
}

func TestHTTPBodyWithoutTheTextFails(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("starting")) }))
	t.Cleanup(srv.Close)
	m := fastMonitor("web")
	m.Kind, m.HTTP = config.MonitorHTTP, &config.HTTPCheck{URL: srv.URL, Method: "GET", BodyContains: "ready"}
	rec := newRecorder()
	runScheduler(t, Options{Monitors: []config.Monitor{m}, Handler: rec})
	ev := rec.next(t, 2*time.Second)
	if ev.Action != config.TypeHTTPError || !strings.Contains(ev.Monitor.Error, `body without "ready"`) {
		t.Fatalf("event = %s %+v", ev.Action, ev.Monitor)
	}
}

func TestHTTPServerThatAcceptsAndNeverAnswersTimesOut(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	m := fastMonitor("web")
	m.Kind, m.HTTP = config.MonitorHTTP, &config.HTTPCheck{URL: srv.URL, Method: "GET"}
	rec := newRecorder()
	runScheduler(t, Options{Monitors: []config.Monitor{m}, Handler: rec})
	ev := rec.next(t, 2*time.Second)
	if ev.Action != config.TypeHTTPError || !strings.Contains(ev.Monitor.Error, "deadline exceeded") {
		t.Fatalf("event = %s %+v", ev.Action, ev.Monitor)
	}
}
