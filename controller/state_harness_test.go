package controller

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-logr/logr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller/controllertest"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/informer/informertest"
	"github.com/samalba/docker-eventsd/reconcile"
)

// testEngine is an EngineState for tests: a real informer on a fake engine,
// so that the cache is the real one, with DownSince on the fake clock.
type testEngine struct {
	*informer.Informer
	docker *informertest.Engine
	// downNano is DownSince as UnixNano on the fake clock, 0 when up.
	downNano atomic.Int64
}

// DownSince returns when the test took the engine down, or zero.
func (e *testEngine) DownSince() time.Time {
	if n := e.downNano.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// stateHarness runs a Controller with state rules on a fake clock, over
// informers of fake engines.
type stateHarness struct {
	*harness
	clock   *clocktesting.FakeClock
	engines map[string]*testEngine

	mu sync.Mutex
	// count counts the events the informers handed on.
	count   int
	changed chan struct{}
}

// stateConfig returns a config with engines a and b and the state rules.
func stateConfig(rules ...config.StateRule) *config.Config {
	return &config.Config{
		Engines: []config.Engine{
			{Name: "a", URL: "tcp://10.0.0.1:2375"},
			{Name: "b", URL: "tcp://10.0.0.2:2375"},
		},
		StateRules: rules,
	}
}

// newStateHarness makes a controller for cfg whose runs call fn (nil:
// succeed). No engine runs yet: see sync and runEngine.
func newStateHarness(t *testing.T, cfg *config.Config, fn func(context.Context, reconcile.Command) (reconcile.Result, error)) *stateHarness {
	t.Helper()
	sh := &stateHarness{
		clock:   clocktesting.NewFakeClock(time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)),
		engines: map[string]*testEngine{},
	}
	var states []EngineState
	for _, e := range cfg.Engines {
		docker := informertest.New()
		te := &testEngine{docker: docker, Informer: informer.New(informer.Options{
			Name: e.Name, URL: e.URL, Client: docker, Heartbeat: time.Hour,
			Handler: informer.HandlerFunc(sh.handle),
		})}
		sh.engines[e.Name] = te
		states = append(states, te)
	}
	runner := &controllertest.Runner{Func: fn}
	sh.harness = &harness{
		t:               t,
		runner:          runner,
		logs:            &controllertest.LogRecorder{Verbosity: 1},
		shutdownTimeout: waitTimeout,
		c: New(Options{
			Config:  cfg,
			Runner:  runner,
			Workers: 1,
			Grace:   time.Second,
			Environ: []string{"PATH=/usr/bin:/bin", "STATE_HASH=from-daemon"},
			Clock:   sh.clock,
			Engines: states,
		}),
	}
	return sh
}

// start runs the controller, and returns once every state rule has
// evaluated at the fake clock's time.
func (sh *stateHarness) start() {
	sh.t.Helper()
	sh.harness.start()
	sh.sync()
}

// handle is the informers' handler: it hands the event to the controller
// and counts it.
func (sh *stateHarness) handle(ev *informer.Event) {
	sh.c.Handle(ev)
	sh.mu.Lock()
	defer sh.mu.Unlock()
	sh.count++
	if sh.changed != nil {
		close(sh.changed)
		sh.changed = nil
	}
}

// runEngine runs the informer of the engine until the test ends, and
// returns once it has synced.
func (sh *stateHarness) runEngine(name string) {
	sh.t.Helper()
	e := sh.engines[name]
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), logr.Discard()))
	done := make(chan struct{})
	go func() {
		defer close(done)
		e.Run(ctx)
	}()
	sh.t.Cleanup(func() {
		cancel()
		<-done
	})
	select {
	case <-e.Synced():
	case <-time.After(waitTimeout):
		sh.t.Fatalf("engine %s did not sync", name)
	}
}

// do calls f on the fake engine of name, waits for the n events it makes to
// be handled, then for the state rules to have evaluated them.
func (sh *stateHarness) do(name string, n int, f func(d *informertest.Engine)) {
	sh.t.Helper()
	sh.handled(n, func() { f(sh.engines[name].docker) })
	sh.sync()
}

// handled calls f and waits for the informers to hand on n more events.
func (sh *stateHarness) handled(n int, f func()) {
	sh.t.Helper()
	sh.mu.Lock()
	want := sh.count + n
	sh.mu.Unlock()
	f()
	ctx := sh.waitCtx()
	for {
		sh.mu.Lock()
		got := sh.count
		if got >= want {
			sh.mu.Unlock()
			return
		}
		if sh.changed == nil {
			sh.changed = make(chan struct{})
		}
		ch := sh.changed
		sh.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			sh.t.Fatalf("%d events handled, want %d", got, want)
		}
	}
}

// sync wakes every state rule and waits until each has evaluated at the
// fake clock's time and gone idle (after any run it started). It does
// nothing before start.
func (sh *stateHarness) sync() {
	sh.t.Helper()
	if sh.done == nil {
		return
	}
	now := sh.clock.Now()
	for _, s := range sh.c.state.rules() {
		s.mark()
		if err := s.progress.wait(sh.waitCtx(), s.marks.Load(), now); err != nil {
			sh.t.Fatalf("state rule %s did not evaluate at %v; log:\n%v", s.name, now, sh.logs.Entries())
		}
	}
}

// step moves the fake clock by d and syncs.
func (sh *stateHarness) step(d time.Duration) {
	sh.t.Helper()
	sh.clock.Step(d)
	sh.sync()
}

// setDown marks the engine down since now (and hands on engine_down), or
// up again when down is false (and hands on engine_up).
func (sh *stateHarness) setDown(name string, down bool) {
	sh.t.Helper()
	e := sh.engines[name]
	action := informer.ActionEngineUp
	if down {
		e.downNano.Store(sh.clock.Now().UnixNano())
		action = informer.ActionEngineDown
	} else {
		e.downNano.Store(0)
	}
	sh.c.Handle(&informer.Event{ID: action, Engine: name, Type: informer.TypeEngine, Action: action, Synthetic: true})
	sh.sync()
}

// runs returns the commands run so far.
func (sh *stateHarness) runs() []reconcile.Command { return sh.runner.Started() }

// wantRuns fails the test unless exactly n runs were made.
func (sh *stateHarness) wantRuns(n int, context string) []reconcile.Command {
	sh.t.Helper()
	runs := sh.runs()
	if len(runs) != n {
		sh.t.Fatalf("%s: %d runs, want %d; log:\n%v", context, len(runs), n, sh.logs.Entries())
	}
	return runs
}

// startContainer creates and starts a container on the engine.
func (sh *stateHarness) startContainer(engine, id string, labels map[string]string) {
	sh.t.Helper()
	sh.do(engine, 2, func(d *informertest.Engine) {
		d.Create(id, id, "postgres:16", labels)
		d.Start(id)
	})
}
