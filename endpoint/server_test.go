package endpoint

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/daemon"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/informer/informertest"
	"github.com/samalba/docker-eventsd/metrics"
)

// runDaemon runs a daemon over fake engines a and b, with metrics, until
// the test ends, once both are in sync.
func runDaemon(t *testing.T, with func(*daemon.Options)) (*daemon.Daemon, map[string]*informertest.Engine, *Options) {
	t.Helper()
	fakes := map[string]*informertest.Engine{"a": informertest.New(), "b": informertest.New()}
	cfg, err := config.Parse("events.yml", []byte("cluster:\n  a: tcp://a.invalid:2375\n  b: tcp://b.invalid:2375\nevents:\n  - name: started\n    type: start\n    command: 'true'\n"))
	if err != nil {
		t.Fatal(err)
	}
	reg := metrics.NewRegistry()
	opts := daemon.Options{
		Config: cfg, Metrics: reg, Logger: testr.New(t), ShutdownTimeout: time.Second,
		NewClient: func(e config.Engine) (informer.Client, error) { return fakes[e.Name], nil },
	}
	if with != nil {
		with(&opts)
	}
	d, err := daemon.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	for _, n := range []string{"a", "b"} {
		select {
		case <-d.Informer(n).Synced():
		case <-time.After(10 * time.Second):
			t.Fatalf("engine %s not in sync", n)
		}
	}
	return d, fakes, &Options{Daemon: d, Gatherer: reg, Logger: testr.New(t)}
}

// serve listens on addr (a loopback port of its own when "") and serves
// until the test ends; it returns the client and base URL to reach it.
func serve(t *testing.T, opts Options, addr string) (*http.Client, string) {
	t.Helper()
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	a, err := ParseAddr(addr)
	if err != nil {
		t.Fatal(err)
	}
	opts.Addr = a
	srv, err := Listen(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	tr := &http.Transport{}
	base := "http://" + srv.Addr()
	if a.Network == "unix" {
		base = "http://unix"
		tr.DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", a.Address)
		}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}, base
}

func get(t *testing.T, cl *http.Client, url string) (int, string) {
	t.Helper()
	resp, err := cl.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestEndpointServesMetricsHealthReadinessAndStatus(t *testing.T) {
	for _, listen := range []string{"", "unix://" + filepath.Join(t.TempDir(), "eventsd.sock")} {
		t.Run(fmt.Sprintf("listen=%q", listen), func(t *testing.T) {
			_, _, opts := runDaemon(t, nil)
			cl, base := serve(t, *opts, listen)
			tests := []struct {
				path string
				code int
				want []string
			}{
				{"/metrics", 200, []string{`eventsd_engine_up{engine="a"} 1`, `eventsd_engine_up{engine="b"} 1`,
					`eventsd_config_reload_success 1`, `eventsd_dead_letters{rule="started"} 0`,
					`workqueue_depth{name="deliveries"}`, "go_goroutines", "process_cpu_seconds_total"}},
				{"/healthz", 200, []string{"ok"}},
				{"/readyz", 200, []string{"ok"}},
				{"/status", 200, []string{`"name": "a"`, `"state": "up"`, `"name": "started"`}},
				{"/debug/pprof/", 404, nil},
			}
			for _, tt := range tests {
				code, body := get(t, cl, base+tt.path)
				if code != tt.code {
					t.Errorf("GET %s: %d, want %d; body:\n%s", tt.path, code, tt.code, body)
				}
				for _, w := range tt.want {
					if !strings.Contains(body, w) {
						t.Errorf("GET %s: body lacks %q:\n%s", tt.path, w, body)
					}
				}
			}
		})
	}
}

func TestStatusDecodesIntoTheDaemonsStatus(t *testing.T) {
	_, _, opts := runDaemon(t, nil)
	cl, base := serve(t, *opts, "")
	_, body := get(t, cl, base+"/status")
	var st daemon.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		t.Fatal(err)
	}
	if !st.Ready || len(st.Engines) != 2 || st.Engines[0].URL != "tcp://a.invalid:2375" || len(st.Rules) != 1 {
		t.Errorf("status = %+v, want ready, engines a and b, rule started", st)
	}
}

func TestReadyzWaitsForAnEngineDownWithinItsGraceAndNamesIt(t *testing.T) {
	d, fakes, opts := runDaemon(t, nil)
	opts.ReadyGrace = time.Hour
	cl, base := serve(t, *opts, "")
	fakes["b"].SetDown(true)
	deadline := time.Now().Add(10 * time.Second)
	for d.Informer("b").DownSince().IsZero() {
		if time.Now().After(deadline) {
			t.Fatal("engine b never down")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if code, body := get(t, cl, base+"/readyz"); code != 503 || !strings.Contains(body, "waiting for engine: b") {
		t.Errorf("GET /readyz: %d %q, want 503 naming b", code, body)
	}
	if code, _ := get(t, cl, base+"/healthz"); code != 200 {
		t.Errorf("GET /healthz with an engine down: %d, want 200 (the loops make progress)", code)
	}
}

func TestHealthzIs503NamingTheStuckLoop(t *testing.T) {
	release := make(chan struct{})
	_, fakes, opts := runDaemon(t, func(o *daemon.Options) {
		o.StuckAfter = 50 * time.Millisecond
		o.Observe = informer.HandlerFunc(func(ev *informer.Event) {
			if ev.Engine == "b" && ev.Action == "start" {
				<-release
			}
		})
	})
	// Cleanups run last first: the engine's loop is released before the
	// daemon is stopped.
	t.Cleanup(func() { close(release) })
	cl, base := serve(t, *opts, "")
	fakes["b"].Create("c1", "c1", "img", nil)
	fakes["b"].Start("c1")
	deadline := time.Now().Add(10 * time.Second)
	for {
		code, body := get(t, cl, base+"/healthz")
		if code == 503 && strings.Contains(body, "engine/b") {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /healthz: %d %q, want 503 naming engine/b", code, body)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestPprofIsServedOnlyWhenAskedFor(t *testing.T) {
	_, _, opts := runDaemon(t, nil)
	opts.Pprof = true
	cl, base := serve(t, *opts, "")
	if code, body := get(t, cl, base+"/debug/pprof/"); code != 200 || !strings.Contains(body, "goroutine") {
		t.Errorf("GET /debug/pprof/ with Pprof: %d, want 200 with the profiles", code)
	}
}

func TestParseAddr(t *testing.T) {
	tests := []struct {
		in      string
		want    Addr
		wantErr bool
	}{
		{"127.0.0.1:9324", Addr{"tcp", "127.0.0.1:9324"}, false},
		{"[::1]:9324", Addr{"tcp", "[::1]:9324"}, false},
		{"unix:///run/eventsd.sock", Addr{"unix", "/run/eventsd.sock"}, false},
		{"off", Addr{}, false},
		{"unix://relative.sock", Addr{}, true},
		{"9324", Addr{}, true},
	}
	for _, tt := range tests {
		got, err := ParseAddr(tt.in)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("ParseAddr(%q) = %+v, %v; want %+v, error %v", tt.in, got, err, tt.want, tt.wantErr)
		}
		if err == nil && got.String() != tt.in {
			t.Errorf("ParseAddr(%q).String() = %q", tt.in, got.String())
		}
	}
}
