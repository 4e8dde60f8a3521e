package endpoint

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/samalba/docker-eventsd/daemon"
)

// Daemon is what the endpoint reads of the daemon; *daemon.Daemon
// implements it.
type Daemon interface {
	// Stuck names the loops stuck past their limit.
	Stuck() []string
	// Ready reports readiness and the engines it waits for.
	Ready(grace time.Duration) (bool, []string)
	// Status returns the daemon's status.
	Status(grace time.Duration) daemon.Status
}

var _ Daemon = (*daemon.Daemon)(nil)

// Options configures a Server.
type Options struct {
	// Addr is where to listen; required (not off).
	Addr Addr
	// Daemon is the daemon served; required.
	Daemon Daemon
	// Gatherer is served at /metrics; nil: /metrics is 404.
	Gatherer prometheus.Gatherer
	// Pprof serves /debug/pprof/ too.
	Pprof bool
	// ReadyGrace is how long an engine not in sync may hold up /readyz
	// (daemon.DefaultReadyGrace when zero).
	ReadyGrace time.Duration
	// Logger logs what the server does; zero discards.
	Logger logr.Logger
}

// Server is the endpoint. Make it with Listen, run it with Serve.
type Server struct {
	opts Options
	l    net.Listener
	srv  *http.Server
}

// Listen listens on opts.Addr and returns the server, not serving yet: a
// port in use fails the daemon's start-up, not later.
func Listen(opts Options) (*Server, error) {
	if opts.Addr.Off() || opts.Daemon == nil {
		return nil, errors.New("endpoint: Options.Addr and Options.Daemon are required")
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	l, err := opts.Addr.listen()
	if err != nil {
		return nil, err
	}
	s := &Server{opts: opts, l: l}
	s.srv = &http.Server{Handler: s.Handler(), ReadHeaderTimeout: 10 * time.Second}
	return s, nil
}

// Addr returns the address the server listens on (its port, when the one
// asked for was 0).
func (s *Server) Addr() string {
	if s.opts.Addr.Network == "unix" {
		return s.opts.Addr.String()
	}
	return s.l.Addr().String()
}

// Serve serves until ctx is done, then closes the listener and waits up to
// five seconds for the requests being served.
func (s *Server) Serve(ctx context.Context) error {
	log := s.opts.Logger
	errc := make(chan error, 1)
	go func() { errc <- s.srv.Serve(s.l) }()
	log.Info("Serving the endpoint", "listen", s.Addr(), "pprof", s.opts.Pprof)
	select {
	case err := <-errc:
		return fmt.Errorf("endpoint: %w", err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := s.srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("endpoint: shutdown: %w", err)
	}
	return nil
}

// Handler returns the endpoint's routes.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	if s.opts.Gatherer != nil {
		mux.Handle("GET /metrics", promhttp.HandlerFor(s.opts.Gatherer, promhttp.HandlerOpts{ErrorLog: promLogger{s.opts.Logger}}))
	}
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /status", s.status)
	s.deadRoutes(mux)
	if s.opts.Pprof {
		mux.HandleFunc("GET /debug/pprof/", pprof.Index)
		mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
		mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
		mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
		mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	}
	return mux
}

// healthz is 200 "ok" while every loop makes progress, else 503 naming the
// stuck loops, one a line.
func (s *Server) healthz(w http.ResponseWriter, _ *http.Request) {
	if stuck := s.opts.Daemon.Stuck(); len(stuck) > 0 {
		plain(w, http.StatusServiceUnavailable, "stuck: "+strings.Join(stuck, "\nstuck: ")+"\n")
		return
	}
	plain(w, http.StatusOK, "ok\n")
}

// readyz is 200 "ok" once ready, else 503 naming the engines waited for.
func (s *Server) readyz(w http.ResponseWriter, _ *http.Request) {
	if ok, waiting := s.opts.Daemon.Ready(s.opts.ReadyGrace); !ok {
		plain(w, http.StatusServiceUnavailable, "waiting for engine: "+strings.Join(waiting, "\nwaiting for engine: ")+"\n")
		return
	}
	body := "ok\n"
	// With ha:, which replica leads and since when (daemon.HAReady).
	if h, ok := s.opts.Daemon.(interface{ HAReady() string }); ok {
		body += h.HAReady()
	}
	plain(w, http.StatusOK, body)
}

// status serves the daemon's Status as JSON.
func (s *Server) status(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s.opts.Daemon.Status(s.opts.ReadyGrace)); err != nil {
		s.opts.Logger.Error(err, "Cannot write the status")
	}
}

func plain(w http.ResponseWriter, code int, body string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = w.Write([]byte(body))
}

// promLogger logs promhttp's errors (a collector that failed a scrape).
type promLogger struct{ log logr.Logger }

func (p promLogger) Println(v ...any) {
	p.log.Error(errors.New(fmt.Sprint(v...)), "Metrics scrape failed")
}
