package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/checkpoint"
	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller"
	"github.com/samalba/docker-eventsd/informer"
)

// durableState is the --state-dir of a run: the state file, and the
// goroutine that writes it. Its methods do nothing on a nil *durableState
// (no --state-dir: nothing survives a restart).
type durableState struct {
	log   logr.Logger
	store *checkpoint.Store
	// resume are the checkpoints to resume engines from, by engine name.
	resume map[string]*informer.Checkpoint

	sources []checkpoint.Source
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// openState opens the state file of dir, nil when dir is "". An error names
// the file and says what to do (see checkpoint.Open).
func openState(log logr.Logger, dir string, cfg *config.Config) (*durableState, error) {
	if dir == "" {
		return nil, nil
	}
	store, err := checkpoint.Open(dir)
	if err != nil {
		return nil, err
	}
	s := &durableState{log: log, store: store}
	st := store.State()
	log.Info("Opened the state file", "file", store.Path(), "engines", len(st.Engines), "pending", len(st.Deliveries))
	if err := s.pickCheckpoints(cfg); err != nil {
		_ = store.Close()
		return nil, err
	}
	return s, nil
}

// pickCheckpoints chooses the checkpoint to resume each engine of cfg from,
// and forgets those of engines no longer in the config. A checkpoint taken at
// another URL is not used: that is another engine, and diffing against it
// would synthesize nonsense.
func (s *durableState) pickCheckpoints(cfg *config.Config) error {
	st := s.store.State()
	s.resume = map[string]*informer.Checkpoint{}
	names := make([]string, 0, len(cfg.Engines))
	for _, e := range cfg.Engines {
		names = append(names, e.Name)
		cp := st.Engines[e.Name]
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
	gone, err := s.store.ForgetEngines(names)
	if err != nil {
		return fmt.Errorf("state file %s: %w", s.store.Path(), err)
	}
	for _, n := range gone {
		s.log.Info("Forgot the checkpoint of an engine no longer in the config", "engine", n)
	}
	return nil
}

// resumeFor returns the checkpoints to resume engines from, by name.
func (s *durableState) resumeFor() map[string]*informer.Checkpoint {
	if s == nil {
		return nil
	}
	return s.resume
}

// controllerOptions sets the journal of the controller.
func (s *durableState) controllerOptions(opts *controller.Options) {
	if s == nil {
		return
	}
	opts.Journal, opts.StateRuleRecords = s.store, s.store.State().StateRules
}

// recover queues the deliveries an earlier run left pending. A record that
// does not decode makes the file corrupt.
func (s *durableState) recover(ctrl *controller.Controller) error {
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

// start starts writing the journal and the informers' checkpoints. It
// outlives ctx: save stops it.
func (s *durableState) start(ctx context.Context, informers []*informer.Informer) {
	if s == nil {
		return
	}
	for _, inf := range informers {
		s.sources = append(s.sources, inf)
	}
	var wctx context.Context
	wctx, s.cancel = context.WithCancel(context.WithoutCancel(ctx))
	s.wg.Go(func() { s.store.Run(wctx, s.sources, checkpoint.DefaultInterval) })
}

// save stops the writer and writes what is left: call it once the informers
// and the controller stopped.
func (s *durableState) save() {
	if s == nil || s.cancel == nil {
		return
	}
	s.cancel()
	s.wg.Wait()
	if err := s.store.Flush(s.sources); err != nil {
		s.log.Error(err, "Writing the state file at shutdown failed")
		return
	}
	s.log.Info("Saved the state", "file", s.store.Path())
}

// close closes the state file.
func (s *durableState) close() {
	if s == nil {
		return
	}
	if s.cancel != nil {
		s.cancel()
		s.wg.Wait()
	}
	if err := s.store.Close(); err != nil {
		s.log.Error(err, "Closing the state file failed", "file", s.store.Path())
	}
}
