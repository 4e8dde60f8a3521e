package checkpoint

import (
	"context"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	bolt "go.etcd.io/bbolt"
)

// DefaultInterval is how often Run writes the engines' checkpoints.
const DefaultInterval = time.Second

// Source is an engine whose checkpoint is saved. The store does not know
// what a checkpoint holds: the daemon adapts an informer to a Source that
// encodes its checkpoint.
type Source interface {
	// Name returns the engine's name.
	Name() string
	// Checkpoint returns the engine's checkpoint, encoded, and its version,
	// or nil when there is nothing to save yet.
	Checkpoint() ([]byte, uint64, error)
	// CheckpointVersion returns the version Checkpoint would return, cheaply.
	CheckpointVersion() uint64
}

// Sources returns the engines whose checkpoints are saved now; the set may
// change between two calls (engines added or removed while the daemon runs).
type Sources func() []Source

// PutDelivery journals the pending delivery seq (or its new data, after an
// attempt). It returns at once; Run commits it within one fsync.
func (s *Store) PutDelivery(seq uint64, data []byte) {
	s.mu.Lock()
	s.deliveries[seq] = data
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// DeleteDelivery removes the delivery seq from the journal: it succeeded or
// was given up. It returns at once and wakes nobody: the next commit takes
// it (until then, a crash runs the delivery again, which at-least-once
// allows).
func (s *Store) DeleteDelivery(seq uint64) {
	s.mu.Lock()
	s.deliveries[seq] = nil
	s.mu.Unlock()
}

// PutStateRule records what a state rule wants to remember; it is committed
// with the next commit.
func (s *Store) PutStateRule(name string, data []byte) {
	s.mu.Lock()
	s.stateRules[name] = data
	s.mu.Unlock()
}

// CompleteDelivery removes the delivery seq from the journal and records,
// under key, that it completed (data: what its writer wants to remember of
// it). Both changes are in the same commit, which it starts at once: until
// that commit's fsync ends, a crash forgets the completion.
func (s *Store) CompleteDelivery(seq uint64, key string, data []byte) {
	s.mu.Lock()
	s.deliveries[seq] = nil
	s.completed[key] = data
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// ForgetCompleted removes the completed-delivery record key (evicted by its
// writer); it is committed with the next commit.
func (s *Store) ForgetCompleted(key string) {
	s.mu.Lock()
	s.completed[key] = nil
	s.mu.Unlock()
}

// take returns the changes not committed and forgets them.
func (s *Store) take() (map[uint64][]byte, map[string][]byte, map[string][]byte, map[uint64][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return takeMap(&s.deliveries), takeMap(&s.stateRules), takeMap(&s.completed), takeMap(&s.dead)
}

// giveBack puts back changes whose commit failed, unless newer ones came.
func (s *Store) giveBack(d map[uint64][]byte, r, c map[string][]byte, x map[uint64][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	putBack(s.dead, x)
	putBack(s.completed, c)
	putBack(s.deliveries, d)
	putBack(s.stateRules, r)
}

// Flush commits the journal changes and the checkpoints of sources that
// changed since they were last written, in one transaction. The checkpoints
// are read before the journal changes are taken: every delivery of an event
// they cover was put before, and is in the same commit or an earlier one.
func (s *Store) Flush(sources []Source) error {
	return s.commit(func() []Source { return sources }, true)
}

// engineWrite is a checkpoint to write.
type engineWrite struct {
	name    string
	version uint64
	data    []byte
}

// commit writes the journal changes, and with checkpoints the changed
// checkpoints of sources (nil: none). sources is asked under commitMu: a
// source that DeleteEngine follows is never written after it.
func (s *Store) commit(sources Sources, checkpoints bool) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	var engines []engineWrite
	if checkpoints && sources != nil {
		for _, src := range sources() {
			if v := src.CheckpointVersion(); v == 0 || v == s.written[src.Name()] {
				continue // nothing yet, or nothing new: no copy
			}
			data, v, err := src.Checkpoint()
			if err != nil {
				return fmt.Errorf("encode checkpoint of engine %s: %w", src.Name(), err)
			}
			if data == nil || v == s.written[src.Name()] {
				continue
			}
			engines = append(engines, engineWrite{name: src.Name(), version: v, data: data})
		}
	}
	// Taken after the checkpoints were read: see Flush.
	deliveries, stateRules, completed, dead := s.take()
	if len(engines) == 0 && len(deliveries) == 0 && len(stateRules) == 0 && len(completed) == 0 && len(dead) == 0 {
		return nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketDeliveries)
		for seq, data := range deliveries {
			var err error
			if data == nil {
				err = b.Delete(seqKey(seq))
			} else {
				err = b.Put(seqKey(seq), data)
			}
			if err != nil {
				return err
			}
		}
		b = tx.Bucket(bucketStateRules)
		for name, data := range stateRules {
			if err := b.Put([]byte(name), data); err != nil {
				return err
			}
		}
		b = tx.Bucket(bucketCompleted)
		for key, data := range completed {
			var err error
			if data == nil {
				err = b.Delete([]byte(key))
			} else {
				err = b.Put([]byte(key), data)
			}
			if err != nil {
				return err
			}
		}
		if err := putSeqs(tx.Bucket(bucketDead), dead); err != nil {
			return err
		}
		b = tx.Bucket(bucketEngines)
		for _, e := range engines {
			if err := b.Put([]byte(e.name), e.data); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		s.giveBack(deliveries, stateRules, completed, dead)
		return fmt.Errorf("write state file %s: %w", s.path, err)
	}
	for _, e := range engines {
		s.written[e.name] = e.version
	}
	return nil
}

// Run commits until ctx is done: journal changes as soon as they come (the
// changes that arrive during one commit go together in the next), and the
// checkpoints of the sources every interval (DefaultInterval when zero or
// less); sources is asked at each checkpoint commit, nil means none. A failed
// commit is logged and tried again with the next one. Run does not flush at
// the end: call Flush once the informers and the controller stopped.
func (s *Store) Run(ctx context.Context, sources Sources, interval time.Duration) {
	log := logr.FromContextOrDiscard(ctx).WithValues("file", s.path)
	if interval <= 0 {
		interval = DefaultInterval
	}
	t := time.NewTicker(interval)
	defer t.Stop()
	failing := false
	for {
		var err error
		select {
		case <-ctx.Done():
			return
		case <-s.wake:
			err = s.commit(nil, false)
		case <-t.C:
			err = s.commit(sources, true)
		}
		switch {
		case err != nil && !failing:
			failing = true
			log.Error(err, "Writing the state file failed: a crash now would lose recent state; retrying")
		case err == nil && failing:
			failing = false
			log.Info("Writing the state file works again")
		}
	}
}
