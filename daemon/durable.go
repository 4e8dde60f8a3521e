package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/checkpoint"
	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller"
	"github.com/samalba/docker-eventsd/informer"
)

// durable is the state file of a run and the goroutine that writes it. It
// decodes what the store keeps as bytes: the engines' checkpoints (JSON of
// informer.Checkpoint) and the state rules' records; the controller decodes
// its journal records itself (Recover). Its methods do nothing on a nil
// *durable (no state directory: nothing survives a restart).
type durable struct {
	log   logr.Logger
	store durableStore
	// resume are the checkpoints to resume the engines of the config from,
	// by engine name; each is taken once.
	resume map[string]*informer.Checkpoint
	// discovered are the checkpoints of engines not in cluster: that a
	// discovery source may add again (takeDiscovered); mu guards it.
	mu         sync.Mutex
	discovered map[string]*informer.Checkpoint

	cancel context.CancelFunc
	wg     sync.WaitGroup
}

// openDurable opens the state file of dir, nil when dir is "". A record that
// does not decode makes the file corrupt; an error names the file and says
// what to do (see checkpoint.Open).
func openDurable(log logr.Logger, dir string, cfg *config.Config) (*durable, error) {
	if dir == "" {
		return nil, nil
	}
	store, err := checkpoint.Open(dir)
	if err != nil {
		return nil, err
	}
	return newDurable(log, store, cfg)
}

// newDurable reads store (a state file, or the shared journal of HA) for
// cfg, and closes it on failure.
func newDurable(log logr.Logger, store durableStore, cfg *config.Config) (*durable, error) {
	s := &durable{log: log, store: store}
	st := store.State()
	log.Info("Opened the state file", "file", store.Path(), "engines", len(st.Engines), "pending", len(st.Deliveries),
		"completed", len(st.Completed), "deadLetters", len(st.DeadLetters))
	err := s.decode()
	if err == nil {
		err = s.pickCheckpoints(cfg)
	}
	if err != nil {
		_ = store.Close()
		return nil, err
	}
	return s, nil
}

// decode checks the records the controller does not read itself: the
// engines' checkpoints, and the state rules' records (JSON).
func (s *durable) decode() error {
	st := s.store.State()
	for name, data := range st.StateRules {
		if !json.Valid(data) {
			return s.store.Corrupt(fmt.Errorf("state rule %q: not JSON", name))
		}
	}
	s.resume = make(map[string]*informer.Checkpoint, len(st.Engines))
	for name, data := range st.Engines {
		cp := &informer.Checkpoint{}
		if err := json.Unmarshal(data, cp); err != nil {
			return s.store.Corrupt(fmt.Errorf("checkpoint of engine %q: %w", name, err))
		}
		s.resume[name] = cp
	}
	return nil
}

// pickCheckpoints keeps the checkpoint to resume each engine of cfg from,
// and forgets those of engines no longer in the config. A checkpoint taken at
// another URL is not used: that is another engine, and diffing against it
// would synthesize nonsense.
func (s *durable) pickCheckpoints(cfg *config.Config) error {
	all := s.resume
	s.resume = map[string]*informer.Checkpoint{}
	s.discovered = map[string]*informer.Checkpoint{}
	names := make([]string, 0, len(cfg.Engines))
	for _, e := range cfg.Engines {
		names = append(names, e.Name)
		cp := all[e.Name]
		switch {
		case cp == nil:
			s.log.Info("No checkpoint for engine: its first list is the baseline", "engine", e.Name)
		case cp.URL != e.URL:
			s.log.Info("Not resuming engine: its URL changed, its first list is the baseline", "engine", e.Name, "url", e.URL, "checkpointURL", cp.URL)
		default:
			s.resume[e.Name] = cp
			s.log.Info("Resuming engine from its checkpoint", "engine", e.Name, "containers", len(cp.Containers),
				"lastSeen", time.Unix(0, cp.LastSeen).UTC().Format(time.RFC3339Nano))
		}
	}
	if len(cfg.Discovery) > 0 {
		// The other checkpoints may be those of engines a discovery source
		// gives again: kept, and offered when the engine is added at the
		// same URL (takeDiscovered). Those of engines a source removes while
		// the daemon runs are forgotten then.
		for name, cp := range all {
			if _, static := s.resume[name]; !static && !slices.Contains(names, name) {
				s.discovered[name] = cp
				names = append(names, name)
			}
		}
	}
	gone, err := s.store.ForgetEngines(names)
	if err != nil {
		return fmt.Errorf("state file %s: %w", s.store.Path(), err)
	}
	for _, n := range gone {
		s.log.Info("Forgot the checkpoint of an engine no longer in the config", "engine", n)
	}
	return nil
}

// enabled reports whether there is a state file: informers then keep
// checkpoints.
func (s *durable) enabled() bool { return s != nil }

// takeResume returns, once, the checkpoint to resume the named engine from,
// nil when none.
func (s *durable) takeResume(name string) *informer.Checkpoint {
	if s == nil {
		return nil
	}
	cp := s.resume[name]
	delete(s.resume, name)
	return cp
}

// takeDiscovered returns, once, the checkpoint an earlier run left for the
// engine e that a discovery source adds now; nil when none, or when it was
// taken at another URL (another engine: its first list is the baseline).
func (s *durable) takeDiscovered(e config.Engine) *informer.Checkpoint {
	if s == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	cp := s.discovered[e.Name]
	delete(s.discovered, e.Name)
	if cp == nil {
		return nil
	}
	if cp.URL != e.URL {
		s.log.Info("Not resuming discovered engine: its URL changed, its first list is the baseline", "engine", e.Name, "url", e.URL, "checkpointURL", cp.URL)
		return nil
	}
	s.log.Info("Resuming discovered engine from its checkpoint", "engine", e.Name, "containers", len(cp.Containers),
		"lastSeen", time.Unix(0, cp.LastSeen).UTC().Format(time.RFC3339Nano))
	return cp
}

// controllerOptions sets the journal of the controller, and gives it the
// completed deliveries of the earlier run (bounded with the controller's
// defaults).
func (s *durable) controllerOptions(opts *controller.Options) {
	if s == nil {
		return
	}
	opts.Journal, opts.StateRuleRecords = s.store, s.store.State().StateRules
	opts.CompletedRecords = s.store.State().Completed
	for _, r := range s.store.State().DeadLetters {
		opts.DeadLetterRecords = append(opts.DeadLetterRecords, controller.JournaledDelivery{Seq: r.Seq, Data: r.Data})
	}
}

// recover queues the deliveries an earlier run left pending. A record that
// does not decode makes the file corrupt.
func (s *durable) recover(ctrl *controller.Controller) error {
	if s == nil {
		return nil
	}
	st := s.store.State()
	journaled := make([]controller.JournaledDelivery, len(st.Deliveries))
	for i, r := range st.Deliveries {
		journaled[i] = controller.JournaledDelivery{Seq: r.Seq, Data: r.Data}
	}
	if _, err := ctrl.Recover(journaled); err != nil {
		return s.store.Corrupt(err)
	}
	return nil
}

// start starts writing the journal and the checkpoints of sources. It
// outlives ctx: save stops it.
func (s *durable) start(ctx context.Context, sources checkpoint.Sources, interval time.Duration) {
	if s == nil {
		return
	}
	var wctx context.Context
	wctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.wg.Go(func() { s.store.Run(wctx, sources, interval) })
}

// engineRemoved forgets the checkpoint of an engine removed while running.
func (s *durable) engineRemoved(name string) {
	if s == nil {
		return
	}
	if err := s.store.DeleteEngine(name); err != nil {
		s.log.Error(err, "Forgetting the checkpoint of a removed engine failed", "engine", name)
	}
}

// engineReplaced makes the next commit write the checkpoint of the engine
// that replaced another, and forgets the old one's when the new one does not
// resume from it.
func (s *durable) engineReplaced(name string, resumed bool) {
	switch {
	case s == nil:
	case resumed:
		s.store.ResetEngine(name)
	default:
		s.engineRemoved(name)
	}
}

// save stops the writer and writes what is left: call it once the informers
// and the controller stopped.
func (s *durable) save(sources []checkpoint.Source) {
	if s == nil || s.cancel == nil {
		return
	}
	s.cancel()
	s.wg.Wait()
	s.cancel = nil
	if err := s.store.Flush(sources); errors.Is(err, checkpoint.ErrNotLeader) {
		s.log.Info("Not writing the shared journal at shutdown: this replica does not lead")
		return
	} else if err != nil {
		s.log.Error(err, "Writing the state file at shutdown failed")
		return
	}
	s.log.Info("Saved the state", "file", s.store.Path())
}

// close stops the writer, if running, and closes the state file.
func (s *durable) close() {
	if s == nil {
		return
	}
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
		s.cancel = nil
	}
	if err := s.store.Close(); err != nil {
		s.log.Error(err, "Closing the state file failed", "file", s.store.Path())
	}
}
