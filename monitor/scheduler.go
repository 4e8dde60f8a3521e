package monitor

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/reconcile"
)

// DefaultResync is how often the Scheduler re-reads the engines' caches
// when Options.Resync is zero: a container that started without an event
// (an engine's first list) gets its targets within it.
const DefaultResync = time.Second

// EngineSet is the set of engines whose containers monitors check; it may
// change while the Scheduler runs (the daemon's engine registry).
type EngineSet interface {
	MonitorEngines() []Engine
}

// Options configures a Scheduler.
type Options struct {
	// Monitors are the monitors of the config.
	Monitors []config.Monitor
	// Handler gets the events of transitions; required.
	Handler informer.Handler
	// Engines are the engines whose containers are targets; nil means
	// fixed addresses only.
	Engines EngineSet
	// Inspector finds the network of a container (once per target start);
	// nil: only the eventsd.address label gives an address.
	Inspector Inspector
	// Results is where the targets' results are kept; nil makes one.
	Results *Results
	// OnChange, when set, is called when a target's result changes (state
	// rules re-evaluate): it must not block.
	OnChange func()
	// Environ is the environment exec plugins inherit, KEY=VALUE.
	Environ []string
	// Resync is how often the caches are re-read without Notify; zero
	// means DefaultResync.
	Resync time.Duration
	// Logger is used until Run takes the logger of its context.
	Logger logr.Logger
}

// Scheduler runs the checks of the monitors on their targets. Make it with
// New, run it with Run; Notify may be called at any time.
type Scheduler struct {
	opts     Options
	monitors []*monitor
	results  *Results
	// notify is marked by Notify; the sync loop drains it.
	notify chan struct{}
	// restarted holds the containers (engine, ID) that started since the
	// last sync: their targets start again.
	restartedMu sync.Mutex
	restarted   map[[2]string]bool

	// targets is owned by the sync loop.
	targets map[targetKey]*target
	// running counts the targets' goroutines, for tests and metrics; wg
	// waits for them.
	running atomic.Int64
	wg      sync.WaitGroup
	checks  atomic.Int64
	events  atomic.Int64
	// lateness observes how late each check started, when set (benchmarks).
	lateness atomic.Pointer[func(time.Duration)]
	log      logr.Logger
}

// New builds the Scheduler of opts: the checkers of its monitors (an http
// monitor's TLS files are read now).
func New(opts Options) (*Scheduler, error) {
	if opts.Handler == nil {
		return nil, fmt.Errorf("monitor: Options.Handler is required")
	}
	if opts.Resync <= 0 {
		opts.Resync = DefaultResync
	}
	s := &Scheduler{
		opts: opts, results: opts.Results, notify: make(chan struct{}, 1),
		restarted: map[[2]string]bool{}, targets: map[targetKey]*target{}, log: opts.Logger,
	}
	if s.results == nil {
		s.results = NewResults()
	}
	if s.log.GetSink() == nil {
		s.log = logr.Discard()
	}
	var runner *reconcile.Runner
	for i := range opts.Monitors {
		m := &monitor{cfg: &opts.Monitors[i]}
		switch {
		case m.cfg.TCP != nil:
			m.checker = &tcpChecker{port: m.cfg.TCP.Port}
		case m.cfg.HTTP != nil:
			hc, err := newHTTPChecker(m.cfg.HTTP)
			if err != nil {
				return nil, fmt.Errorf("monitor %q: %w", m.cfg.Name, err)
			}
			m.checker = hc
		case m.cfg.Exec != nil:
			if runner == nil {
				runner = reconcile.NewRunner(reconcile.Options{MaxOutput: MaxOutput})
			}
			m.checker = &execChecker{cfg: m.cfg.Exec, dir: m.cfg.Dir, environ: opts.Environ, runner: runner}
		default:
			return nil, fmt.Errorf("monitor %q: no check (tcp, http or exec)", m.cfg.Name)
		}
		s.monitors = append(s.monitors, m)
	}
	return s, nil
}

// Results returns where the targets' results are kept.
func (s *Scheduler) Results() *Results { return s.results }

// Running returns the number of targets being checked.
func (s *Scheduler) Running() int { return int(s.running.Load()) }

// Checks returns the number of checks made so far.
func (s *Scheduler) Checks() int64 { return s.checks.Load() }

// Events returns the number of events handed on so far.
func (s *Scheduler) Events() int64 { return s.events.Load() }

// ObserveLateness makes f see how late each check started after its
// scheduled time (benchmarks); it must be fast and safe for concurrent use.
func (s *Scheduler) ObserveLateness(f func(time.Duration)) { s.lateness.Store(&f) }

func (s *Scheduler) observeLateness(d time.Duration) {
	if f := s.lateness.Load(); f != nil {
		(*f)(d)
	}
}

// Notify tells the Scheduler that an engine's cache may have changed: ev is
// the event an engine handed on. A container's start or restart starts its
// targets again. It never blocks.
func (s *Scheduler) Notify(ev *informer.Event) {
	if ev == nil || ev.Type == informer.TypeMonitor {
		return
	}
	if ev.Type == informer.TypeContainer {
		switch ev.Kind() {
		case "start", "restart":
			s.restartedMu.Lock()
			s.restarted[[2]string{ev.Engine, ev.ActorID}] = true
			s.restartedMu.Unlock()
		}
	}
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// changed tells OnChange that a result changed.
func (s *Scheduler) changed() {
	if s.opts.OnChange != nil {
		s.opts.OnChange()
	}
}

// emit hands on the event of a transition of t.
func (s *Scheduler) emit(t *target, tr transition, o outcome) {
	logTransition(s.log, t, tr, o)
	s.events.Add(1)
	s.opts.Handler.Handle(t.event(tr, o, time.Now()))
}

// Run checks the targets until ctx is done, then stops every target and
// waits for their goroutines (a running exec plugin is stopped).
func (s *Scheduler) Run(ctx context.Context) {
	if l, err := logr.FromContext(ctx); err == nil {
		s.log = l
	}
	defer s.stopAll()
	s.sync(ctx)
	tick := time.NewTicker(s.opts.Resync)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-s.notify:
		case <-tick.C:
		}
		s.sync(ctx)
	}
}

// want is one target the config and the caches want now.
type want struct {
	mon              *monitor
	name, engine, id string
	cache            Cache
	engineURL        string
}

// sync starts the targets wanted now and stops the others.
func (s *Scheduler) sync(ctx context.Context) {
	s.restartedMu.Lock()
	restarted := s.restarted
	s.restarted = map[[2]string]bool{}
	s.restartedMu.Unlock()

	wanted := make(map[targetKey]want, len(s.targets))
	var engines []Engine
	if s.opts.Engines != nil {
		engines = s.opts.Engines.MonitorEngines()
	}
	for _, m := range s.monitors {
		s.wantFixed(m, wanted)
		if !m.cfg.Targets.Containers {
			continue
		}
		sel := &m.cfg.Targets.Selector
		for _, e := range engines {
			if e.Cache == nil || (sel.FromEngine != "" && !config.Match(sel.FromEngine, e.Name)) {
				continue
			}
			for _, c := range e.Cache.List() {
				if c.State != informer.StateRunning || !selects(sel, c) {
					continue
				}
				k := targetKey{m.cfg.Name, e.Name, c.ID}
				wanted[k] = want{mon: m, name: c.Name, engine: e.Name, id: c.ID, cache: e.Cache, engineURL: e.URL}
			}
		}
	}
	for k, t := range s.targets {
		if _, ok := wanted[k]; !ok || (k.engine != "" && restarted[[2]string{k.engine, k.id}]) {
			s.stop(t)
		}
	}
	for k, w := range wanted {
		if _, ok := s.targets[k]; !ok {
			s.start(ctx, k, w)
		}
	}
}

// wantFixed adds the fixed targets of m: its addresses, its tcp address,
// its http URL without a target, or the one bare target of an exec monitor
// without targets.
func (s *Scheduler) wantFixed(m *monitor, wanted map[targetKey]want) {
	add := func(id, name string) {
		wanted[targetKey{m.cfg.Name, "", id}] = want{mon: m, name: name, id: id}
	}
	for _, a := range m.cfg.Targets.Addresses {
		add(a, a)
	}
	if len(m.cfg.Targets.Addresses) > 0 || m.cfg.Targets.Containers {
		return
	}
	switch {
	case m.cfg.TCP != nil && m.cfg.TCP.Address != "":
		add(m.cfg.TCP.Address, m.cfg.TCP.Address)
	case m.cfg.HTTP != nil:
		add(m.cfg.HTTP.URL, m.cfg.HTTP.URL)
	case m.cfg.Exec != nil:
		add("", m.cfg.Name)
	}
}

// selects reports whether the container filters of sel match c.
func selects(sel *config.Selector, c *informer.Container) bool {
	if sel.FromContainer != "" && !config.Match(sel.FromContainer, c.Name) {
		return false
	}
	if sel.Image != "" && !config.Match(sel.Image, c.Image) {
		return false
	}
	if sel.ImageContains != "" && !strings.Contains(c.Image, sel.ImageContains) {
		return false
	}
	for k, v := range sel.Labels {
		got, ok := c.Labels[k]
		if !ok || (v != "" && got != v) {
			return false
		}
	}
	return true
}

// start starts the target k.
func (s *Scheduler) start(ctx context.Context, k targetKey, w want) {
	tctx, cancel := context.WithCancel(ctx)
	t := &target{
		key: k, mon: w.mon, name: w.name, engine: w.engine, cache: w.cache, engineURL: w.engineURL,
		inspector: s.opts.Inspector, started: time.Now(), cancel: cancel, done: make(chan struct{}),
	}
	if w.engine != "" {
		t.containerID = w.id
	}
	s.targets[k] = t
	s.results.add(t)
	s.running.Add(1)
	s.wg.Go(func() {
		defer s.running.Add(-1)
		t.run(tctx, s)
	})
	s.changed()
}

// stop stops the target t; its goroutine ends on its own (a check in
// flight is cancelled), and its result is forgotten at once.
func (s *Scheduler) stop(t *target) {
	t.cancel()
	delete(s.targets, t.key)
	s.results.remove(t)
	s.changed()
}

// stopAll stops every target and waits for their goroutines.
func (s *Scheduler) stopAll() {
	for _, t := range s.targets {
		s.stop(t)
	}
	s.wg.Wait()
}
