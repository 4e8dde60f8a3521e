package fakeengine

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// Options configure a Server.
type Options struct {
	// Engines is how many engines to serve (at least 1).
	Engines int
	// Containers is how many running containers each engine starts with
	// (named c0, c1, ...; image bench/app:1; labels com.example.app=bench and
	// com.example.index=N). They exist before the engine starts: no events.
	Containers int
	// Labels are extra labels of those containers.
	Labels map[string]string
	// Host is the address engines listen on with TCP (default 127.0.0.1).
	Host string
	// BasePort is the port of engine 0, engine i listens on BasePort+i; 0
	// takes free ports.
	BasePort int
	// SocketDir, when set, serves engine i on the unix socket SocketDir/e<i>.sock
	// instead of TCP.
	SocketDir string
	// Mode is the Docker release the engines answer as (see Modes); the
	// zero Mode is DefaultMode, dockerd 20.10.
	Mode Mode
}

// endpoint is an engine and where it listens.
type endpoint struct {
	engine  *Engine
	network string
	addr    string
	mu      sync.Mutex
	ln      net.Listener
	srv     *http.Server
	refused bool
}

// Server serves many fake engines. Create it with NewServer; Close it.
type Server struct {
	eps  []*endpoint
	load loadState
}

// NewServer starts o.Engines engines, each listening on its own port or
// socket.
func NewServer(o Options) (*Server, error) {
	if o.Engines < 1 {
		return nil, errors.New("fakeengine: need at least one engine")
	}
	if o.Host == "" {
		o.Host = "127.0.0.1"
	}
	if o.Mode == (Mode{}) {
		o.Mode = DefaultMode()
	}
	s := &Server{}
	for i := 0; i < o.Engines; i++ {
		e := NewEngineMode("e"+strconv.Itoa(i), o.Mode)
		e.populate(o.Containers, o.Labels)
		ep := &endpoint{engine: e, network: "tcp", addr: net.JoinHostPort(o.Host, "0")}
		switch {
		case o.SocketDir != "":
			ep.network, ep.addr = "unix", filepath.Join(o.SocketDir, "e"+strconv.Itoa(i)+".sock")
		case o.BasePort > 0:
			ep.addr = net.JoinHostPort(o.Host, strconv.Itoa(o.BasePort+i))
		}
		if err := ep.listen(); err != nil {
			s.Close()
			return nil, fmt.Errorf("fakeengine: engine %d: %w", i, err)
		}
		s.eps = append(s.eps, ep)
	}
	return s, nil
}

// populate adds n running containers without events. The caller owns e.
func (e *Engine) populate(n int, extra map[string]string) {
	now := time.Now().UTC()
	for i := 0; i < n; i++ {
		labels := map[string]string{"com.example.app": "bench", "com.example.index": strconv.Itoa(i)}
		for k, v := range extra {
			labels[k] = v
		}
		c := &container{
			id: newID(), name: "c" + strconv.Itoa(i), image: "bench/app:1", imageID: imageID("bench/app:1"),
			cmd: []string{"sleep", "infinity"}, labels: labels, created: now, state: stateRunning,
			startedAt: now, pid: 1000 + i, files: map[string]bool{},
		}
		e.containers[c.id] = c
		e.byName[c.name] = c
	}
}

func (ep *endpoint) listen() error {
	if ep.network == "unix" {
		_ = os.Remove(ep.addr)
	}
	ln, err := net.Listen(ep.network, ep.addr)
	if err != nil {
		return err
	}
	if ep.network == "tcp" {
		ep.addr = ln.Addr().String() // the port chosen, kept across refuse/restore
	}
	e := ep.engine
	srv := &http.Server{
		Handler:           e,
		ReadHeaderTimeout: time.Minute,
		ConnState: func(c net.Conn, st http.ConnState) {
			switch st {
			case http.StateNew:
				e.trackConn(c, true)
			case http.StateClosed, http.StateHijacked:
				e.trackConn(c, false)
			}
		},
	}
	ep.ln, ep.srv = ln, srv
	go func() { _ = srv.Serve(ln) }()
	return nil
}

// URL is the engine's address as a Docker host.
func (ep *endpoint) URL() string {
	if ep.network == "unix" {
		return "unix://" + ep.addr
	}
	return "tcp://" + ep.addr
}

// Len returns the number of engines.
func (s *Server) Len() int { return len(s.eps) }

// Engine returns engine i.
func (s *Server) Engine(i int) *Engine { return s.eps[i].engine }

// URL returns engine i's address (tcp://127.0.0.1:PORT or unix:///path).
func (s *Server) URL(i int) string { return s.eps[i].URL() }

// URLs returns every engine's address, in order.
func (s *Server) URLs() []string {
	out := make([]string, len(s.eps))
	for i, ep := range s.eps {
		out[i] = ep.URL()
	}
	return out
}

// Refuse makes engine i refuse connections (on: its listener closes and open
// connections are cut) or accept them again on the same address.
func (s *Server) Refuse(i int, on bool) error {
	ep := s.eps[i]
	ep.mu.Lock()
	defer ep.mu.Unlock()
	if on == ep.refused {
		return nil
	}
	ep.refused = on
	if on {
		// Close shuts the listener and every connection, streams included.
		_ = ep.srv.Close()
		ep.engine.CloseConns()
		return nil
	}
	return ep.listen()
}

// Fault applies a fault to engine i: "refuse", "stall", "drop" (end event
// streams), "crash" (dockerd killed and restarted: streams cut, ring
// emptied, running containers exited without events), or "none" (undo
// refuse and stall).
func (s *Server) Fault(i int, mode string) error {
	e := s.eps[i].engine
	switch mode {
	case "refuse":
		return s.Refuse(i, true)
	case "stall":
		e.Stall(true)
	case "drop":
		e.DropStreams()
	case "crash":
		e.Crash()
	case "none":
		e.Stall(false)
		return s.Refuse(i, false)
	default:
		return fmt.Errorf("unknown fault %q: want refuse, stall, drop, crash or none", mode)
	}
	return nil
}

// Close stops every engine and the load generator.
func (s *Server) Close() {
	s.StopLoad()
	for _, ep := range s.eps {
		ep.engine.Stall(false)
		ep.mu.Lock()
		if ep.srv != nil && !ep.refused {
			_ = ep.srv.Close()
		}
		ep.mu.Unlock()
		ep.engine.log.reset()
		ep.engine.CloseConns()
		ep.engine.mu.Lock()
		for _, c := range ep.engine.containers {
			ep.engine.closeMonitor(c)
		}
		ep.engine.mu.Unlock()
		if ep.network == "unix" {
			_ = os.Remove(ep.addr)
		}
	}
}

// Stats are counters of one engine or of all.
type Stats struct {
	Engines     int `json:"engines"`
	Subscribers int `json:"subscribers"`
	// Streams is how many event streams were opened.
	Streams int64 `json:"streams"`
	// Emitted counts the events published (whatever their subscribers).
	Emitted int64 `json:"emitted"`
	// Queued counts the events handed to a subscriber (filters passed).
	Queued int64 `json:"queued"`
	// Written counts the events written to a connection.
	Written int64 `json:"written"`
	// Dropped counts the events dropped by the 100 ms rule.
	Dropped int64 `json:"dropped"`
	// MaxBacklog is the most events seen waiting in one subscriber's buffer.
	MaxBacklog int64            `json:"maxBacklog"`
	Requests   map[string]int64 `json:"requests"`
	Load       LoadStats        `json:"load"`
}

// EngineStats returns engine i's counters.
func (s *Server) EngineStats(i int) Stats {
	e := s.eps[i].engine
	st := Stats{Engines: 1, Requests: map[string]int64{}}
	e.addStats(&st)
	return st
}

func (e *Engine) addStats(st *Stats) {
	st.Subscribers += e.log.subscribers()
	st.Streams += e.log.streams.Load()
	st.Emitted += e.log.emitted.Load()
	st.Queued += e.log.queued.Load()
	st.Written += e.log.written.Load()
	st.Dropped += e.log.dropped.Load()
	st.MaxBacklog = max(st.MaxBacklog, e.log.maxBacklog.Load())
	e.reqs.Range(func(k, v any) bool {
		st.Requests[k.(string)] += v.(interface{ Load() int64 }).Load()
		return true
	})
}

// Stats returns the counters of all engines together.
func (s *Server) Stats() Stats {
	st := Stats{Engines: len(s.eps), Requests: map[string]int64{}}
	for _, ep := range s.eps {
		ep.engine.addStats(&st)
	}
	st.Load = s.load.stats()
	return st
}

// ControlHandler serves the control API:
//
//	GET  /fake/stats[?engine=N]        counters (Stats) as JSON
//	GET  /fake/engines                 the engines' URLs
//	POST /fake/fault?engine=N|all&mode=refuse|stall|drop|crash|none
//	POST /fake/load?rate=EVENTS_PER_S&mix=start=1,die=1,kill=1,health_status=1,exec=1[&duration=10s][&tick=100ms]
//	DELETE /fake/load                  stop the generator
func (s *Server) ControlHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /fake/stats", func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("engine"); v != "" {
			i, err := s.index(v)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			writeJSON(w, http.StatusOK, s.EngineStats(i))
			return
		}
		writeJSON(w, http.StatusOK, s.Stats())
	})
	mux.HandleFunc("GET /fake/engines", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, http.StatusOK, s.URLs())
	})
	mux.HandleFunc("POST /fake/fault", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		targets := []int{}
		if q.Get("engine") == "all" {
			for i := range s.eps {
				targets = append(targets, i)
			}
		} else {
			i, err := s.index(q.Get("engine"))
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			targets = append(targets, i)
		}
		for _, i := range targets {
			if err := s.Fault(i, q.Get("mode")); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("POST /fake/load", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		rate, err := strconv.ParseFloat(q.Get("rate"), 64)
		if err != nil || rate <= 0 {
			http.Error(w, "rate: want events per second > 0", http.StatusBadRequest)
			return
		}
		mix := DefaultMix
		if v := q.Get("mix"); v != "" {
			if mix, err = ParseMix(v); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		var d time.Duration
		if v := q.Get("duration"); v != "" {
			if d, err = time.ParseDuration(v); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		var tick time.Duration
		if v := q.Get("tick"); v != "" {
			if tick, err = time.ParseDuration(v); err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
		}
		s.StartLoad(LoadOptions{Rate: rate, Mix: mix, Duration: d, Tick: tick})
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("DELETE /fake/load", func(w http.ResponseWriter, _ *http.Request) {
		s.StopLoad()
		w.WriteHeader(http.StatusNoContent)
	})
	return mux
}

func (s *Server) index(v string) (int, error) {
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 || i >= len(s.eps) {
		return 0, fmt.Errorf("engine %q: want 0..%d", v, len(s.eps)-1)
	}
	return i, nil
}

// MarshalStats renders stats as indented JSON (for logs).
func MarshalStats(st Stats) string {
	b, _ := json.MarshalIndent(st, "", "  ")
	return string(b)
}
