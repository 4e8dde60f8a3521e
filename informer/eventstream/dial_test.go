package eventstream

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// fakeEvents serves /_ping and a streamed /events that writes lines, then
// blocks until the request ends. It records the last events request.
type fakeEvents struct {
	lines  []string
	status int
	hang   bool // never answer /events
	got    chan *http.Request
}

func (f *fakeEvents) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/_ping") {
		w.Header().Set("Api-Version", "1.41")
		_, _ = io.WriteString(w, "OK")
		return
	}
	if !strings.HasSuffix(r.URL.Path, "/events") {
		http.NotFound(w, r)
		return
	}
	f.got <- r
	if f.hang {
		<-r.Context().Done()
		return
	}
	if f.status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, `{"message":"invalid filter 'bogus'"}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for _, l := range f.lines {
		_, _ = io.WriteString(w, l+"\n")
		w.(http.Flusher).Flush()
	}
	<-r.Context().Done()
}

func TestDialerOpenStreamsEvents(t *testing.T) {
	t.Parallel()
	lines := []string{dockerdKill, `{"Type":"container","Action":"die","Actor":{"ID":"c","Attributes":{"exitCode":"0"}},"timeNano":3}`}
	tests := []struct {
		name    string
		network string // tcp or unix
		status  int
	}{
		{name: "tcp", network: "tcp"},
		{name: "unix socket", network: "unix"},
		{name: "error status", network: "tcp", status: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeEvents{lines: lines, status: tt.status, got: make(chan *http.Request, 1)}
			d := NewDialer(DialerOptions{Host: serve(t, tt.network, f), UserAgent: "test-agent", Version: func() string { return "1.41" }})
			if d == nil {
				t.Fatal("no direct event stream")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			sctx, scancel := context.WithCancel(ctx)
			defer scancel()
			s, err := d.Open(sctx, client.EventsListOptions{Since: "1700000000.000000001", Filters: client.Filters{}.Add("type", "container")})
			if tt.status != 0 {
				if err == nil || !strings.Contains(err.Error(), "invalid filter 'bogus'") {
					t.Fatalf("error %v, want the engine's message", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			r := <-f.got
			if r.URL.Path != "/v1.41/events" || r.URL.Query().Get("since") != "1700000000.000000001" ||
				r.URL.Query().Get("filters") != `{"type":{"container":true}}` || r.UserAgent() != "test-agent" {
				t.Errorf("request %s %v (User-Agent %q)", r.URL.Path, r.URL.Query(), r.UserAgent())
			}
			for i, l := range lines {
				var want, m events.Message
				_ = json.Unmarshal([]byte(l), &want)
				if err := s.Next(&m); err != nil {
					t.Fatalf("error before message %d: %v", i, err)
				}
				if !reflect.DeepEqual(m, want) {
					t.Errorf("message %d = %+v, want %+v", i, m, want)
				}
			}
			scancel()
			var m events.Message
			if err := s.Next(&m); !errors.Is(err, context.Canceled) {
				t.Errorf("after cancel: error %v, want context.Canceled", err)
			}
		})
	}
}

// TestDialerOpenHungEngine checks that an engine that never answers the
// request holds Open only until its context ends.
func TestDialerOpenHungEngine(t *testing.T) {
	t.Parallel()
	f := &fakeEvents{hang: true, got: make(chan *http.Request, 1)}
	d := NewDialer(DialerOptions{Host: serve(t, "tcp", f)})
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-f.got
		cancel()
	}()
	done := make(chan error)
	go func() {
		_, err := d.Open(ctx, client.EventsListOptions{})
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Open did not return after its context ended")
	}
}

func TestFromChannelsEndsWithTheClientsError(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		err     error
		cancel  bool
		wantErr error
	}{
		{name: "end of stream", err: io.EOF, wantErr: io.EOF},
		{name: "nil error is the end", err: nil, wantErr: io.EOF},
		{name: "context ended first", cancel: true, wantErr: context.Canceled},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			msgs := make(chan events.Message, 1)
			errs := make(chan error, 1)
			msgs <- events.Message{Action: "start"}
			s := FromChannels(ctx, client.EventsResult{Messages: msgs, Err: errs})
			var m events.Message
			if err := s.Next(&m); err != nil || m.Action != "start" {
				t.Fatalf("Next = %+v, %v; want the start", m, err)
			}
			if tt.cancel {
				cancel()
			} else {
				errs <- tt.err
			}
			for range 2 { // and it stays ended
				if err := s.Next(&events.Message{}); !errors.Is(err, tt.wantErr) {
					t.Errorf("Next error %v, want %v", err, tt.wantErr)
				}
			}
		})
	}
}

func TestNewDialerFallsBack(t *testing.T) {
	t.Parallel()
	// A proxy for every engine but 10.0.0.1.
	proxy := func(r *http.Request) (*url.URL, error) {
		if strings.HasPrefix(r.URL.Host, "10.0.0.1:") {
			return nil, nil
		}
		return url.Parse("http://proxy:3128")
	}
	tests := []struct {
		host   string
		tls    bool
		direct bool
	}{
		{host: "tcp://10.0.0.1:2375", direct: true},
		{host: "tcp://10.0.0.1:2376", tls: true, direct: true},
		{host: "tcp://10.0.0.2:2375", direct: false}, // through the proxy, as the Docker client
		{host: "unix:///var/run/docker.sock", direct: true},
	}
	for _, tt := range tests {
		var tc *tls.Config
		if tt.tls {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		s := NewDialer(DialerOptions{Host: tt.host, TLS: tc, Proxy: proxy})
		if got := s != nil; got != tt.direct {
			t.Errorf("%s: direct stream %v, want %v", tt.host, got, tt.direct)
		}
		if s != nil && tt.tls && (s.tls.ServerName != "10.0.0.1" || tc.ServerName != "") {
			t.Errorf("%s: TLS server name %q (config given: %q), want 10.0.0.1 on a copy", tt.host, s.tls.ServerName, tc.ServerName)
		}
	}
}

func TestPlainTimestamp(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"": true, "0": true, "1700000000": true, "1700000000.123456789": true, "1700000000.5": true,
		"1700000000.1234567890": false, "10m": false, "2024-01-01T00:00:00Z": false, ".5": false, "1.": false,
	} {
		if got := PlainTimestamp(s); got != want {
			t.Errorf("PlainTimestamp(%q) = %v, want %v", s, got, want)
		}
	}
}

// serve serves h on a loopback port or a unix socket and returns its URL.
func serve(t *testing.T, network string, h http.Handler) string {
	t.Helper()
	if network == "tcp" {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return "tcp://" + s.Listener.Addr().String()
	}
	sock := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	s.Start()
	t.Cleanup(s.Close)
	return "unix://" + sock
}
