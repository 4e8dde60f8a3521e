package checkpoint

import bolt "go.etcd.io/bbolt"

// The dead letters: deliveries given up and kept, so that an operator can
// look at them, run them again or drop them. Like the journal, a record is
// the bytes its writer gave, under an ID its writer chose (the controller
// uses the delivery's sequence number).

// GiveUpDelivery removes the pending delivery seq from the journal, records
// under key that it completed (completed; no record when key is ""), and
// keeps it as the dead letter seq (dead), all in the same commit, which it
// starts at once: a crash never both runs the delivery again and keeps it
// dead, nor loses it from both.
func (s *Store) GiveUpDelivery(seq uint64, key string, completed, dead []byte) {
	s.mu.Lock()
	s.deliveries[seq] = nil
	if key != "" {
		s.completed[key] = completed
	}
	s.dead[seq] = dead
	s.mu.Unlock()
	s.wakeUp()
}

// ReviveDeadLetter removes the dead letter id and journals the pending
// delivery seq (data) in its place, in the same commit, which it starts at
// once.
func (s *Store) ReviveDeadLetter(id, seq uint64, data []byte) {
	s.mu.Lock()
	s.dead[id] = nil
	s.deliveries[seq] = data
	s.mu.Unlock()
	s.wakeUp()
}

// DeleteDeadLetter removes the dead letter id (dropped by an operator, or
// evicted by its writer's bound); it starts a commit at once.
func (s *Store) DeleteDeadLetter(id uint64) {
	s.mu.Lock()
	s.dead[id] = nil
	s.mu.Unlock()
	s.wakeUp()
}

// wakeUp tells Run that changes wait.
func (s *Store) wakeUp() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// putSeqs writes records keyed by sequence number into b, deleting those
// whose data is nil.
func putSeqs(b *bolt.Bucket, records map[uint64][]byte) error {
	for seq, data := range records {
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
	return nil
}
