package checkpoint

import (
	"context"
	"errors"
	"maps"
	"net/url"
	"slices"
	"time"

	"github.com/go-logr/logr"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Flush commits the journal changes and the changed checkpoints of sources
// (journal first), if this replica leads; ErrNotLeader when it does not.
func (s *EtcdStore) Flush(sources []Source) error {
	return s.commit(func() []Source { return sources }, true)
}

// take returns the changes not committed and forgets them.
func (s *EtcdStore) take() (map[uint64][]byte, map[string][]byte, map[string][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return takeMap(&s.deliveries), takeMap(&s.stateRules), takeMap(&s.completed)
}

// giveBack puts back changes whose commit failed, unless newer ones came.
func (s *EtcdStore) giveBack(d map[uint64][]byte, r, c map[string][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	putBack(s.deliveries, d)
	putBack(s.stateRules, r)
	putBack(s.completed, c)
}

// commit writes, while this replica leads, the journal changes, then (with
// checkpoints) the checkpoints of sources that changed, read before the
// journal changes are taken: every delivery of an event a checkpoint covers
// is written before it. A standby keeps its changes for when it leads.
func (s *EtcdStore) commit(sources Sources, checkpoints bool) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	if _, _, ok := s.opts.Guard(); !ok {
		return ErrNotLeader
	}
	var engines []engineWrite
	if checkpoints && sources != nil {
		for _, src := range sources() {
			if s.opts.Owns != nil && !s.opts.Owns(src.Name()) {
				continue
			}
			if v := src.CheckpointVersion(); v == 0 || v == s.written[src.Name()] {
				continue
			}
			data, v, err := src.Checkpoint()
			if err != nil || data == nil || v == s.written[src.Name()] {
				continue
			}
			engines = append(engines, engineWrite{name: src.Name(), version: v, data: data})
		}
	}
	deliveries, stateRules, completed := s.take()
	var ops []clientv3.Op
	var deleted []uint64
	seqs := slices.Sorted(maps.Keys(deliveries))
	for _, seq := range seqs {
		data := deliveries[seq]
		if data == nil {
			ops = append(ops, clientv3.OpDelete(s.deliveryKey(seq)))
			deleted = append(deleted, seq)
		} else {
			ops = append(ops, clientv3.OpPut(s.deliveryKey(seq), string(data)))
		}
	}
	for name, data := range stateRules {
		ops = append(ops, clientv3.OpPut(s.opts.Prefix+etcdStateRules+name, string(data)))
	}
	for key, data := range completed {
		k := s.opts.Prefix + etcdCompleted + url.PathEscape(key)
		if data == nil {
			ops = append(ops, clientv3.OpDelete(k))
		} else {
			ops = append(ops, clientv3.OpPut(k, string(data)))
		}
	}
	// Checkpoints last: their transaction follows the journal's.
	for _, e := range engines {
		ops = append(ops, clientv3.OpPut(s.opts.Prefix+etcdEngines+e.name, string(e.data)))
	}
	if len(ops) == 0 {
		return nil
	}
	if err := s.txn(context.Background(), ops); err != nil {
		// Some transactions may have gone through: writing them again is
		// harmless, the newest data of each record is kept.
		s.giveBack(deliveries, stateRules, completed)
		return err
	}
	s.mu.Lock()
	for seq, data := range deliveries {
		if data != nil {
			s.stored[seq] = true
		}
	}
	for _, seq := range deleted {
		delete(s.stored, seq)
		delete(s.keys, seq)
	}
	s.mu.Unlock()
	for _, e := range engines {
		s.written[e.name] = e.version
	}
	return nil
}

// Run commits until ctx is done, as Store.Run does: journal changes as soon
// as they come, checkpoints every interval, and only while this replica
// leads. It also follows the completed-delivery records (OnCompleted).
func (s *EtcdStore) Run(ctx context.Context, sources Sources, interval time.Duration) {
	log := logr.FromContextOrDiscard(ctx).WithValues("journal", s.Path())
	go s.watchCompleted(ctx, log)
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
		if errors.Is(err, ErrNotLeader) {
			err = nil // a standby writes nothing
		}
		switch {
		case err != nil && !failing:
			failing = true
			log.Error(err, "Writing the shared journal failed: a takeover now would run recent deliveries again; retrying")
		case err == nil && failing:
			failing = false
			log.Info("Writing the shared journal works again")
		}
	}
}
