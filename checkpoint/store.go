package checkpoint

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"time"

	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

const (
	// FileName is the name of the state file in the state directory.
	FileName = "state.db"
	// Schema is the format of the records this version writes and reads; a
	// file with another schema is refused, never rewritten.
	Schema = "docker-eventsd/state/v1"
)

// lockTimeout is how long Open waits for the file's lock: a daemon that was
// just stopped has let go of it by then. A variable for tests.
var lockTimeout = time.Second

// Buckets and keys of the file.
var (
	bucketMeta       = []byte("meta")
	bucketEngines    = []byte("engines")
	bucketDeliveries = []byte("deliveries")
	bucketStateRules = []byte("state-rules")
	bucketCompleted  = []byte("completed")
	bucketDead       = []byte("dead-letters")
	keySchema        = []byte("schema")
)

// State is what the file held when it was opened. Every record is the bytes
// its writer gave: the store neither encodes nor decodes them, and a record
// its reader cannot decode is reported with Corrupt.
type State struct {
	// Engines are the checkpoints of the engines, by engine name.
	Engines map[string][]byte
	// Deliveries are the journaled pending deliveries, by sequence number.
	Deliveries []Record
	// StateRules are the records of the state rules, by rule name.
	StateRules map[string][]byte
	// Completed are the records of the completed deliveries, by the key
	// their writer chose (see CompleteDelivery).
	Completed map[string][]byte
	// DeadLetters are the deliveries given up and kept (GiveUpDelivery), by
	// their ID, oldest first.
	DeadLetters []Record
}

// Record is one journaled delivery: its sequence number and what the
// controller wrote.
type Record struct {
	Seq  uint64
	Data []byte
}

// Store is an open state file. It is safe for concurrent use.
type Store struct {
	path  string
	db    *bolt.DB
	state *State

	mu sync.Mutex
	// deliveries are the journal changes not committed yet: the newest data
	// of each sequence number, nil to delete it.
	deliveries map[uint64][]byte
	// stateRules are the state rule records not committed yet.
	stateRules map[string][]byte
	// completed are the completed-delivery records not committed yet, nil
	// to delete one.
	completed map[string][]byte
	// dead are the dead-letter records not committed yet, nil to delete one.
	dead map[uint64][]byte
	// wake tells Run that journal changes wait (one token).
	wake chan struct{}

	// commitMu serializes commits (Run's and Flush's), and guards written.
	commitMu sync.Mutex
	// written is the version of each engine's checkpoint last committed.
	written map[string]uint64
}

// CorruptError is a state file that cannot be read. Its message names the
// file and says how to start fresh.
type CorruptError struct {
	Path string
	Err  error
}

func (e *CorruptError) Error() string {
	return fmt.Sprintf("state file %s is corrupt or unreadable: %v. docker-eventsd does not start fresh over it on its own: "+
		"to start fresh, stop every docker-eventsd using it and move it aside (mv %s %s.bad); the daemon then forgets "+
		"where it stopped on each engine and the deliveries still pending (see docs/RELIABILITY.md)",
		e.Path, e.Err, e.Path, e.Path)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// LockedError is a state file that another process holds.
type LockedError struct {
	Path string
	// PID is the process that holds the lock, 0 when unknown.
	PID int
}

func (e *LockedError) Error() string {
	who := "another docker-eventsd"
	if e.PID > 0 {
		who = fmt.Sprintf("another docker-eventsd (pid %d)", e.PID)
	}
	return fmt.Sprintf("state file %s is locked by %s: stop it, or give this daemon its own --state-dir", e.Path, who)
}

// Open opens (creating when missing) the state directory dir and its state
// file, reads everything in it, and returns the store. The state file is
// locked until Close.
func Open(dir string) (_ *Store, err error) {
	if dir == "" {
		return nil, errors.New("checkpoint: no state directory")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	path := filepath.Join(dir, FileName)
	s := &Store{
		path:       path,
		deliveries: map[uint64][]byte{},
		stateRules: map[string][]byte{},
		completed:  map[string][]byte{},
		dead:       map[uint64][]byte{},
		wake:       make(chan struct{}, 1),
		written:    map[string]uint64{},
	}
	// bbolt panics on some damaged pages, and a page beyond the mapped file
	// would fault: both become a CorruptError here.
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if p := recover(); p != nil {
			if s.db != nil {
				_ = s.db.Close()
			}
			err = &CorruptError{Path: path, Err: fmt.Errorf("bbolt: %v", p)}
		}
	}()
	s.db, err = bolt.Open(path, 0o600, &bolt.Options{Timeout: lockTimeout})
	switch {
	case errors.Is(err, berrors.ErrTimeout):
		return nil, &LockedError{Path: path, PID: lockHolder(path)}
	case errors.Is(err, os.ErrPermission):
		return nil, fmt.Errorf("state file %s: %w", path, err)
	case err != nil:
		return nil, &CorruptError{Path: path, Err: err}
	}
	if err := s.load(); err != nil {
		_ = s.db.Close()
		return nil, &CorruptError{Path: path, Err: err}
	}
	return s, nil
}

// load checks the schema (writing it into a new file) and reads every record.
func (s *Store) load() error {
	err := s.db.Update(func(tx *bolt.Tx) error {
		meta := tx.Bucket(bucketMeta)
		if meta == nil {
			// A new file has no bucket at all; anything else is not ours.
			if err := tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
				return fmt.Errorf("bucket %q but no schema: not a docker-eventsd state file", name)
			}); err != nil {
				return err
			}
			var err error
			if meta, err = tx.CreateBucket(bucketMeta); err != nil {
				return err
			}
			if err := meta.Put(keySchema, []byte(Schema)); err != nil {
				return err
			}
		}
		if got := meta.Get(keySchema); !bytes.Equal(got, []byte(Schema)) {
			return fmt.Errorf("schema %q, this docker-eventsd reads %q", got, Schema)
		}
		for _, b := range [][]byte{bucketEngines, bucketDeliveries, bucketStateRules, bucketCompleted, bucketDead} {
			if _, err := tx.CreateBucketIfNotExists(b); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	st := &State{Engines: map[string][]byte{}, StateRules: map[string][]byte{}, Completed: map[string][]byte{}}
	err = s.db.View(func(tx *bolt.Tx) error {
		err := tx.Bucket(bucketEngines).ForEach(func(k, v []byte) error {
			st.Engines[string(k)] = bytes.Clone(v)
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketDeliveries).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("pending delivery key %x: not a sequence number", k)
			}
			st.Deliveries = append(st.Deliveries, Record{Seq: binary.BigEndian.Uint64(k), Data: bytes.Clone(v)})
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketStateRules).ForEach(func(k, v []byte) error {
			st.StateRules[string(k)] = bytes.Clone(v)
			return nil
		})
		if err != nil {
			return err
		}
		err = tx.Bucket(bucketCompleted).ForEach(func(k, v []byte) error {
			st.Completed[string(k)] = bytes.Clone(v)
			return nil
		})
		if err != nil {
			return err
		}
		return tx.Bucket(bucketDead).ForEach(func(k, v []byte) error {
			if len(k) != 8 {
				return fmt.Errorf("dead letter key %x: not an ID", k)
			}
			st.DeadLetters = append(st.DeadLetters, Record{Seq: binary.BigEndian.Uint64(k), Data: bytes.Clone(v)})
			return nil
		})
	})
	if err != nil {
		return err
	}
	s.state = st
	return nil
}

// Path returns the state file's path.
func (s *Store) Path() string { return s.path }

// State returns what the file held when it was opened. The caller must not
// change it.
func (s *Store) State() *State { return s.state }

// Corrupt returns a CorruptError about this store's file, for a record that a
// caller could not use.
func (s *Store) Corrupt(err error) error { return &CorruptError{Path: s.path, Err: err} }

// ForgetEngines removes, at once, the checkpoints of the engines not in keep
// (engines no longer in the config), and returns their names.
func (s *Store) ForgetEngines(keep []string) ([]string, error) {
	k := make(map[string]bool, len(keep))
	for _, n := range keep {
		k[n] = true
	}
	var gone []string
	for name := range s.state.Engines {
		if !k[name] {
			gone = append(gone, name)
		}
	}
	if len(gone) == 0 {
		return nil, nil
	}
	err := s.db.Update(func(tx *bolt.Tx) error {
		b := tx.Bucket(bucketEngines)
		for _, n := range gone {
			if err := b.Delete([]byte(n)); err != nil {
				return err
			}
		}
		return nil
	})
	return gone, err
}

// DeleteEngine removes, at once, the checkpoint of the named engine (an
// engine removed while the daemon runs). Call it once the engine's Source is
// no longer among those Run and Flush are given: a commit that read it
// before has finished when DeleteEngine returns.
func (s *Store) DeleteEngine(name string) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	delete(s.written, name)
	err := s.db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketEngines).Delete([]byte(name))
	})
	if err != nil {
		return fmt.Errorf("state file %s: %w", s.path, err)
	}
	return nil
}

// ResetEngine makes the next checkpoint commit write the named engine's
// checkpoint whatever its version: its Source was replaced by another one,
// whose versions count from zero again.
func (s *Store) ResetEngine(name string) {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	delete(s.written, name)
}

// Close closes the file; changes not flushed are lost.
func (s *Store) Close() error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	return s.db.Close()
}

// seqKey encodes a sequence number as a key that sorts in order.
func seqKey(seq uint64) []byte {
	var k [8]byte
	binary.BigEndian.PutUint64(k[:], seq)
	return k[:]
}
