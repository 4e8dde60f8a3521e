package controller

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// ReplayEngine is an engine played back from a recording: its cache holds
// what the recorded events (and the recorded first list) left, its outage
// runs from a recorded engine_down to the next engine_up. It is an
// EngineState, for state rules to read as they read a live engine.
type ReplayEngine struct {
	name   string
	cache  *informer.Cache
	synced atomic.Bool
	// down is the UnixNano of the current outage's start, 0 when up.
	down atomic.Int64
}

// Name implements EngineState.
func (e *ReplayEngine) Name() string { return e.name }

// Cache implements EngineState.
func (e *ReplayEngine) Cache() *informer.Cache { return e.cache }

// HasSynced implements EngineState: set once its first list or first event
// was played back.
func (e *ReplayEngine) HasSynced() bool { return e.synced.Load() }

// DownSince implements EngineState.
func (e *ReplayEngine) DownSince() time.Time {
	if t := e.down.Load(); t != 0 {
		return time.Unix(0, t)
	}
	return time.Time{}
}

// Baseline plays back a recorded list of the engine's containers.
func (e *ReplayEngine) Baseline(containers []*informer.Container) {
	for _, c := range containers {
		e.cache.Store(c)
	}
	e.synced.Store(true)
}

// Apply plays back ev: its container as the event left it, or the engine's
// outage, counted from at (the event's time, or the replay's clock when the
// handlers run for real).
func (e *ReplayEngine) Apply(ev *informer.Event, at time.Time) {
	switch {
	case ev.Type == informer.TypeEngine && ev.Action == informer.ActionEngineDown:
		e.down.Store(at.UnixNano())
	case ev.Type == informer.TypeEngine && ev.Action == informer.ActionEngineUp:
		e.down.Store(0)
	case ev.Type == informer.TypeContainer && ev.Container != nil:
		e.cache.Store(ev.Container)
	}
	e.synced.Store(true)
}

// ReplaySet is the engines of a replay, an EngineSet: those of the config
// first, in config order, then the others as the recording names them.
type ReplaySet struct {
	mu sync.Mutex
	// list is the engines, copied on write (EngineStates reads it
	// without a lock).
	list   atomic.Pointer[[]EngineState]
	byName map[string]*ReplayEngine
}

// NewReplaySet returns the engines of cfg, empty and not in sync.
func NewReplaySet(cfg *config.Config) *ReplaySet {
	s := &ReplaySet{byName: map[string]*ReplayEngine{}}
	s.list.Store(&[]EngineState{})
	for _, e := range cfg.Engines {
		s.Engine(e.Name)
	}
	return s
}

// Engine returns the engine called name, added when new.
func (s *ReplaySet) Engine(name string) *ReplayEngine {
	s.mu.Lock()
	defer s.mu.Unlock()
	if e := s.byName[name]; e != nil {
		return e
	}
	e := &ReplayEngine{name: name, cache: informer.NewCache()}
	s.byName[name] = e
	list := append(append([]EngineState{}, *s.list.Load()...), e)
	s.list.Store(&list)
	return e
}

// EngineStates implements EngineSet.
func (s *ReplaySet) EngineStates() []EngineState { return *s.list.Load() }

// StateFire is a state rule that fires at one evaluation of a replay.
type StateFire struct {
	// Rule is the rule's name; Count and Hash sum up the set it fires for
	// ($STATE_COUNT, $STATE_HASH).
	Rule  string
	Count int
	Hash  string
}

// StateExplainer evaluates the state rules of a config over the engines of
// a replay, with the controller's own selection and trigger (a set settles
// at once: debounce and max_delay are not applied, and every run counts as a
// success). It tells which state rules fire after each played-back event.
type StateExplainer struct {
	set      stateSet
	rules    []*stateRule
	machines []*stateMachine
}

// NewStateExplainer compiles the state rules of cfg over engines.
func NewStateExplainer(cfg *config.Config, engines EngineSet) *StateExplainer {
	x := &StateExplainer{set: newStateSet(cfg, engines, nil, nil)}
	x.rules = x.set.rules()
	for _, r := range x.rules {
		x.machines = append(x.machines, &stateMachine{rule: r})
	}
	return x
}

// Evaluate evaluates every state rule at now (the time of the event just
// played back) and returns those that fire, in config order. A rule waits,
// as in the daemon, until the engines it may select are in sync or down past
// its grace.
func (x *StateExplainer) Evaluate(now time.Time) ([]StateFire, error) {
	var out []StateFire
	for i, r := range x.rules {
		if ok, _ := x.set.ready(now, &r.sel); !ok {
			continue
		}
		snap, err := x.set.snapshot(now, &r.sel)
		if err != nil {
			return out, err
		}
		m := x.machines[i]
		m.ready = true
		m.settle(logr.Discard(), snap, reasonChange)
		if m.target == nil {
			continue
		}
		out = append(out, StateFire{Rule: r.name, Count: snap.count(), Hash: snap.hash})
		m.succeeded(now)
	}
	return out, nil
}
