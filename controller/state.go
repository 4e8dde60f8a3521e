package controller

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// stateTick is how often a state rule re-evaluates without being told to:
// an engine syncing its first list, or a cache changing without an event,
// is noticed within a tick.
const stateTick = time.Second

// Variables the daemon sets for each run of a state rule's command. Together
// with ENGINE_<NAME> they are reserved, as the per-event variables are for
// event rules.
const (
	envStateFile    = "EVENTSD_STATE_FILE"
	envStateCount   = "STATE_COUNT"
	envStateHash    = "STATE_HASH"
	envStateAttempt = "STATE_ATTEMPT"
)

var _ EngineState = (*informer.Informer)(nil)

// EngineState is what state rules read of one engine: its cache of
// containers and its health. *informer.Informer implements it.
type EngineState interface {
	// Name returns the engine's name in the config.
	Name() string
	// Cache returns the engine's container cache.
	Cache() *informer.Cache
	// HasSynced reports whether a first list of the engine was loaded.
	HasSynced() bool
	// DownSince returns when the current outage began, or the zero time when
	// the engine is not known to be down.
	DownSince() time.Time
}

// EngineSet is the set of engines state rules read; it may change while
// the controller runs (the daemon's engine registry).
type EngineSet interface {
	// EngineStates returns the engines now in the set, in a stable order. The
	// caller does not change the slice; it is asked at every evaluation.
	EngineStates() []EngineState
}

// stateSet is the state rules of a controller and the engines they read.
type stateSet struct {
	// list holds the state rules in force; SetRules swaps it.
	list *atomic.Pointer[[]*stateRule]
	// engines iterates the engines of the EngineSet now, with their
	// EngineState (nil for an engine of the config that a fixed
	// Options.Engines lacks: rules that select it then never become ready).
	engines func(yield func(int, stateEngine) bool)
	// monitors holds the monitors' results, for rules with monitors:; nil
	// when there are none (statemonitor.go).
	monitors MonitorResults
}

// fixedEngines is the EngineSet of a fixed Options.Engines: the engines of
// cfg, in config order, those missing from engines with a nil EngineState.
func fixedEngines(cfg *config.Config, engines []EngineState) EngineSet {
	byName := make(map[string]EngineState, len(engines))
	for _, e := range engines {
		if e != nil {
			byName[e.Name()] = e
		}
	}
	var set fixedSet
	for _, e := range cfg.Engines {
		set.names = append(set.names, e.Name)
		set.states = append(set.states, byName[e.Name])
	}
	return set
}

// fixedSet is a fixed EngineSet; its states may be nil.
type fixedSet struct {
	names  []string
	states []EngineState
}

func (f fixedSet) EngineStates() []EngineState { return f.states }

// iterate yields the engines of set, with the names of a fixedSet for its
// nil states.
func iterate(set EngineSet) func(yield func(int, stateEngine) bool) {
	return func(yield func(int, stateEngine) bool) {
		fixed, isFixed := set.(fixedSet)
		for i, e := range set.EngineStates() {
			se := stateEngine{state: e}
			if isFixed {
				se.name = fixed.names[i]
			} else {
				se.name = e.Name()
			}
			if !yield(i, se) {
				return
			}
		}
	}
}

// stateEngine is one engine of the config and what state rules read of it.
type stateEngine struct {
	name  string
	state EngineState
}

// stateRule is a config state rule with what the controller computes from it
// once, and what Handle and its goroutine share.
type stateRule struct {
	cfg *config.StateRule
	// name is cfg.Name, or state-N for a hand-built rule without one.
	name    string
	sel     selector
	trigger string
	timeout time.Duration
	retry   retryPolicy
	// env is the part of the environment that is the same for every run.
	env []string
	// shadowed are names of the rule's env: that the daemon sets itself.
	shadowed []string

	// dirty wakes the rule's goroutine; it holds one token, so that marks
	// made while the goroutine is busy are coalesced into one evaluation.
	dirty chan struct{}
	// marks counts the calls of mark.
	marks atomic.Uint64
	// progress tells tests how far the goroutine got.
	progress stateProgress

	// cancel stops the rule's goroutine and done is closed when it returned;
	// set when it starts (startStateRule).
	cancel context.CancelFunc
	done   chan struct{}
	// reloaded is set for a rule a reload defined anew: it does not resume
	// the earlier run's record, and so runs for the set it finds.
	reloaded bool
}

// newStateSet compiles the state rules of cfg for the engines of set;
// environ and engVars are the daemon's environment and ENGINE_<NAME>=URL of
// every engine.
func newStateSet(cfg *config.Config, set EngineSet, environ, engVars []string) stateSet {
	st := stateSet{engines: iterate(set), list: new(atomic.Pointer[[]*stateRule])}
	rules := compileStateRules(cfg, environ, engVars)
	st.list.Store(&rules)
	return st
}

// compileStateRules compiles the state rules of cfg; environ and engVars are
// the daemon's environment and ENGINE_<NAME>=URL of every engine.
func compileStateRules(cfg *config.Config, environ, engVars []string) []*stateRule {
	// A state rule's env: may not set the state variables, EVENTSD_RULE or
	// ENGINE_<NAME>; the per-event variables are free: state handlers do not
	// get them.
	reserved := map[string]bool{envRule: true, envStateFile: true, envStateCount: true, envStateHash: true, envStateAttempt: true}
	for _, e := range cfg.Engines {
		reserved[engineVar(e.Name)] = true
	}
	var rules []*stateRule
	for i := range cfg.StateRules {
		r := &cfg.StateRules[i]
		s := &stateRule{
			cfg:     r,
			name:    r.Name,
			sel:     compileSelector(r),
			trigger: strings.ToLower(strings.TrimSpace(r.Trigger)),
			timeout: r.Timeout,
			retry:   newRetryPolicy(r.Retry),
			dirty:   make(chan struct{}, 1),
		}
		if s.name == "" {
			s.name = "state-" + strconv.Itoa(i+1)
		}
		if s.trigger == "" {
			s.trigger = config.TriggerChanged
		}
		if s.timeout <= 0 {
			s.timeout = config.DefaultTimeout
		}
		s.env, s.shadowed = baseEnv(environ, r.Env, engVars, reserved)
		rules = append(rules, s)
	}
	return rules
}

// rules returns the state rules now in force.
func (st *stateSet) rules() []*stateRule { return *st.list.Load() }

// mark tells every state rule that something may have changed. It never
// blocks: Handle calls it for every event.
func (st *stateSet) mark() {
	for _, s := range st.rules() {
		s.mark()
	}
}

// mark tells the rule's goroutine to evaluate again.
func (s *stateRule) mark() {
	s.marks.Add(1)
	select {
	case s.dirty <- struct{}{}:
	default: // a wake-up is pending already
	}
}

// start starts one goroutine per state rule in wg. They stop when ctx is
// done; their runs use runCtx, which outlives ctx by the shutdown timeout.
func (c *Controller) startStates(ctx, runCtx context.Context, wg *sync.WaitGroup) {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	c.stateRun = &stateRunner{ctx: ctx, runCtx: runCtx, wg: wg}
	for _, s := range c.state.rules() {
		c.startStateRule(s, nil)
	}
}

// stateProgress records the last evaluation after which a state rule's
// goroutine went idle: the marks it had seen and the clock's time. Tests wait
// on it instead of sleeping.
type stateProgress struct {
	mu    sync.Mutex
	marks uint64
	at    time.Time
	// changed is closed and replaced at each report.
	changed chan struct{}
}

// report records that the goroutine is idle after seeing marks at time at.
func (p *stateProgress) report(marks uint64, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.marks, p.at = marks, at
	if p.changed != nil {
		close(p.changed)
		p.changed = nil
	}
}

// wait waits until the goroutine went idle after seeing at least marks at
// time at or later, or ctx is done.
func (p *stateProgress) wait(ctx context.Context, marks uint64, at time.Time) error {
	for {
		p.mu.Lock()
		if p.marks >= marks && !p.at.Before(at) {
			p.mu.Unlock()
			return nil
		}
		if p.changed == nil {
			p.changed = make(chan struct{})
		}
		ch := p.changed
		p.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// logStateConfig logs, once at Run, what is odd in the state rules' setup:
// env: names the daemon sets, and engines without an EngineState.
func (c *Controller) logStateConfig(log logr.Logger) {
	if len(c.state.rules()) == 0 {
		return
	}
	for _, s := range c.state.rules() {
		for _, name := range s.shadowed {
			log.Info("Ignoring rule env variable: the daemon sets it", "rule", s.name, "variable", name)
		}
	}
	for _, e := range c.state.engines {
		if e.state == nil {
			log.Error(errors.New("no cache for engine"), "State rules that may select this engine never run", "engine", e.name)
		}
	}
	log.Info("Started state rules", "rules", len(c.state.rules()))
}
