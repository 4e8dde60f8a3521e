package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/samalba/docker-eventsd/checkpoint"
	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller"
	"github.com/samalba/docker-eventsd/informer"
)

// errStopped is returned by a change of the registry after shutdown.
var errStopped = errors.New("daemon stopped")

// engine is one engine of the registry: its informer, and the goroutine
// that runs it once started.
type engine struct {
	inf *informer.Informer
	// url is the engine's address, to tell whether a replacement is the same
	// engine (and may resume from this one's checkpoint).
	url string
	// spec is the engine as configured, to tell whether a new config
	// changes it (SyncEngines).
	spec config.Engine
	// cli is the informer's client, which monitors inspect containers with
	// (monitor.go).
	cli informer.Client
	// cancel stops the informer; nil until started.
	cancel context.CancelFunc
	// done is closed when the informer's Run returned.
	done chan struct{}
}

// stop stops the engine, if started, and waits for its goroutines.
func (e *engine) stop() {
	if e.cancel == nil {
		return
	}
	e.cancel()
	<-e.done
}

// snapshot is the registry's engines at one moment, in the forms its readers
// want; it is never changed once published.
type snapshot struct {
	engines []*engine
	// states is what the controller's state rules read.
	states []controller.EngineState
	// sources is what the store writes the checkpoints of.
	sources []checkpoint.Source
}

func newSnapshot(engines []*engine) *snapshot {
	s := &snapshot{engines: engines}
	for _, e := range engines {
		s.states = append(s.states, e.inf)
		s.sources = append(s.sources, source{e.inf})
	}
	return s
}

// index returns the position of the named engine, -1 when absent.
func (s *snapshot) index(name string) int {
	return slices.IndexFunc(s.engines, func(e *engine) bool { return e.inf.Name() == name })
}

// registry holds the engines of a running daemon. Readers (the state rules,
// the store's writer) take its current snapshot without locking; changes are
// serialized by mu, and each one publishes a new snapshot. It implements
// controller.EngineSet.
type registry struct {
	// mu serializes the changes, start and stop.
	mu   sync.Mutex
	list atomic.Pointer[snapshot]
	// ctx is the context engines run in, nil until start; stopped is set by
	// stop, after which nothing changes.
	ctx     context.Context
	stopped bool
}

var _ controller.EngineSet = (*registry)(nil)

func newRegistry() *registry {
	r := &registry{}
	r.list.Store(newSnapshot(nil))
	return r
}

// EngineStates returns the engines now registered, in registration order.
func (r *registry) EngineStates() []controller.EngineState { return r.list.Load().states }

// sources returns the checkpoint sources of the engines now registered.
func (r *registry) sources() []checkpoint.Source { return r.list.Load().sources }

// informer returns the informer of the named engine, nil when absent.
func (r *registry) informer(name string) *informer.Informer {
	s := r.list.Load()
	if i := s.index(name); i >= 0 {
		return s.engines[i].inf
	}
	return nil
}

// specs returns the engines as configured, by name.
func (r *registry) specs() map[string]config.Engine {
	engines := r.list.Load().engines
	out := make(map[string]config.Engine, len(engines))
	for _, e := range engines {
		out[e.spec.Name] = e.spec
	}
	return out
}

// names returns the engines' names, in registration order.
func (r *registry) names() []string {
	s := r.list.Load()
	out := make([]string, len(s.engines))
	for i, e := range s.engines {
		out[i] = e.inf.Name()
	}
	return out
}

// run starts e in ctx. Called with mu held.
func (r *registry) run(e *engine) {
	ctx, cancel := context.WithCancel(r.ctx)
	e.cancel, e.done = cancel, make(chan struct{})
	go func() {
		defer close(e.done)
		e.inf.Run(ctx)
	}()
}

// add registers e, and starts it when the registry runs.
func (r *registry) add(e *engine) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return errStopped
	}
	s := r.list.Load()
	if s.index(e.inf.Name()) >= 0 {
		return fmt.Errorf("engine %q: already registered", e.inf.Name())
	}
	if r.ctx != nil {
		r.run(e)
	}
	r.list.Store(newSnapshot(append(slices.Clone(s.engines), e)))
	return nil
}

// remove unregisters the named engine, then stops it and waits for its
// goroutines: once it returns, the engine hands on nothing more.
func (r *registry) remove(name string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return errStopped
	}
	s := r.list.Load()
	i := s.index(name)
	if i < 0 {
		return fmt.Errorf("engine %q: not registered", name)
	}
	old := s.engines[i]
	r.list.Store(newSnapshot(slices.Delete(slices.Clone(s.engines), i, i+1)))
	old.stop()
	return nil
}

// replace stops the engine of the same name as the one next builds, waits
// for its goroutines, and puts next(old) in its place, started when the
// registry runs. next gets the old engine stopped, to resume from it.
func (r *registry) replace(name string, next func(old *engine) (*engine, error)) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.stopped {
		return errStopped
	}
	s := r.list.Load()
	i := s.index(name)
	if i < 0 {
		return fmt.Errorf("engine %q: not registered", name)
	}
	old := s.engines[i]
	old.stop()
	e, err := next(old)
	if err != nil {
		// The old engine is stopped: it leaves the registry.
		r.list.Store(newSnapshot(slices.Delete(slices.Clone(s.engines), i, i+1)))
		return err
	}
	if r.ctx != nil {
		r.run(e)
	}
	engines := slices.Clone(s.engines)
	engines[i] = e
	r.list.Store(newSnapshot(engines))
	return nil
}

// start starts every engine registered, and those added later, in ctx.
func (r *registry) start(ctx context.Context) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ctx = ctx
	for _, e := range r.list.Load().engines {
		r.run(e)
	}
}

// stop stops every engine and waits for their goroutines; the registry then
// refuses changes. The engines stay listed: their checkpoints are written
// once more at shutdown. Safe to call more than once.
func (r *registry) stop() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stopped = true
	for _, e := range r.list.Load().engines {
		if e.cancel != nil {
			e.cancel()
		}
	}
	for _, e := range r.list.Load().engines {
		e.stop()
	}
}

// source is an engine as the store sees it: its checkpoint in its JSON form.
type source struct{ inf *informer.Informer }

func (s source) Name() string              { return s.inf.Name() }
func (s source) CheckpointVersion() uint64 { return s.inf.CheckpointVersion() }

func (s source) Checkpoint() ([]byte, uint64, error) {
	cp, v := s.inf.Checkpoint()
	if cp == nil {
		return nil, v, nil
	}
	data, err := json.Marshal(cp)
	return data, v, err
}
