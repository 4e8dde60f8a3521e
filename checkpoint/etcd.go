package checkpoint

import (
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// maxTxnOps bounds the operations of one etcd transaction: etcd refuses more
// than --max-txn-ops (128 by default).
const maxTxnOps = 100

// ErrNotLeader is a commit of an EtcdStore whose guard does not hold: this
// replica does not lead, so it writes nothing.
var ErrNotLeader = errors.New("checkpoint: not the leader: the shared journal is not written")

// EtcdOptions configures an EtcdStore.
type EtcdOptions struct {
	// Client is the etcd client; required. The store does not close it.
	Client *clientv3.Client
	// Prefix starts the store's keys; it ends with "/".
	Prefix string
	// Writer names this process's pending deliveries: unique among the
	// processes that share Prefix (a new one at each start).
	Writer string
	// Guard returns the leader key and its create revision while this
	// replica leads: every transaction is conditional on that key still
	// having that revision. ok false: nothing is written.
	Guard func() (key string, rev int64, ok bool)
	// OnCompleted hears of every completed-delivery record written under
	// Prefix after Open, by any replica (deleted: the record was evicted).
	OnCompleted func(key string, deleted bool)
	// Owns, when set, says which engines' checkpoints this replica writes
	// (HA shard mode: the engines it owns); nil writes every engine's.
	Owns func(engine string) bool
}

// EtcdStore is the journal and the engines' checkpoints in etcd, shared by
// the replicas of an HA deployment: the same records as a Store, written
// only by the leader, in transactions guarded by its leader key. It has the
// methods of Store the daemon uses, and is safe for concurrent use.
type EtcdStore struct {
	opts  EtcdOptions
	state *State
	// rev is the revision State was read at.
	rev int64
	// keys are the etcd keys of the deliveries read at Open, by the
	// sequence number State gave them.
	keys map[uint64]string

	mu         sync.Mutex
	deliveries map[uint64][]byte
	stateRules map[string][]byte
	completed  map[string][]byte
	// stored are the sequence numbers that have a key in etcd: a delivery
	// put and deleted while this replica does not lead is forgotten rather
	// than kept for a delete.
	stored map[uint64]bool
	wake   chan struct{}

	commitMu sync.Mutex
	written  map[string]uint64
}

// Sub-prefixes of the store's keys.
const (
	etcdEngines    = "engines/"
	etcdPending    = "pending/"
	etcdStateRules = "state-rules/"
	etcdCompleted  = "completed/"
)

// OpenEtcd reads every record under opts.Prefix. It returns an error when
// etcd does not answer within ctx: the caller retries.
func OpenEtcd(ctx context.Context, opts EtcdOptions) (*EtcdStore, error) {
	s, err := NewEtcdStore(opts)
	if err != nil {
		return nil, err
	}
	resp, err := opts.Client.Get(ctx, opts.Prefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByCreateRevision, clientv3.SortAscend))
	if err != nil {
		return nil, fmt.Errorf("read the shared journal: %w", err)
	}
	s.rev = resp.Header.Revision
	st := &State{Engines: map[string][]byte{}, StateRules: map[string][]byte{}, Completed: map[string][]byte{}}
	// Deliveries written in one transaction share a create revision: their
	// keys (the writer's sequence numbers, fixed width) order them.
	kvs := slices.Clone(resp.Kvs)
	slices.SortStableFunc(kvs, func(a, b *mvccpb.KeyValue) int {
		if c := cmp.Compare(a.CreateRevision, b.CreateRevision); c != 0 {
			return c
		}
		return bytes.Compare(a.Key, b.Key)
	})
	for _, kv := range kvs {
		rest := strings.TrimPrefix(string(kv.Key), opts.Prefix)
		switch {
		case strings.HasPrefix(rest, etcdEngines):
			st.Engines[strings.TrimPrefix(rest, etcdEngines)] = kv.Value
		case strings.HasPrefix(rest, etcdStateRules):
			st.StateRules[strings.TrimPrefix(rest, etcdStateRules)] = kv.Value
		case strings.HasPrefix(rest, etcdCompleted):
			if key, err := url.PathUnescape(strings.TrimPrefix(rest, etcdCompleted)); err == nil {
				st.Completed[key] = kv.Value
			}
		case strings.HasPrefix(rest, etcdPending):
			// In create order, the order the deliveries were made in.
			seq := uint64(len(st.Deliveries) + 1)
			st.Deliveries = append(st.Deliveries, Record{Seq: seq, Data: kv.Value})
			s.keys[seq] = string(kv.Key)
			s.stored[seq] = true
		}
	}
	s.state = st
	return s, nil
}

// NewEtcdStore returns a store of opts that has read nothing: its State is
// empty (etcd was out of reach at start-up), it writes as OpenEtcd's does.
func NewEtcdStore(opts EtcdOptions) (*EtcdStore, error) {
	if opts.Client == nil || opts.Guard == nil || opts.Writer == "" || !strings.HasSuffix(opts.Prefix, "/") {
		return nil, errors.New("checkpoint: EtcdOptions.Client, Guard, Writer and a Prefix ending in / are required")
	}
	return &EtcdStore{
		opts: opts, keys: map[uint64]string{},
		state:      &State{Engines: map[string][]byte{}, StateRules: map[string][]byte{}, Completed: map[string][]byte{}},
		deliveries: map[uint64][]byte{}, stateRules: map[string][]byte{}, completed: map[string][]byte{},
		stored: map[uint64]bool{}, wake: make(chan struct{}, 1), written: map[string]uint64{},
	}, nil
}

// Path names the store in messages: the etcd prefix.
func (s *EtcdStore) Path() string { return "etcd:" + s.opts.Prefix }

// State returns what etcd held at Open. The caller must not change it.
func (s *EtcdStore) State() *State { return s.state }

// Corrupt returns a CorruptError about the shared journal.
func (s *EtcdStore) Corrupt(err error) error { return &CorruptError{Path: s.Path(), Err: err} }

// deliveryKey returns the etcd key of the delivery seq.
func (s *EtcdStore) deliveryKey(seq uint64) string {
	if k, ok := s.keys[seq]; ok {
		return k
	}
	return s.opts.Prefix + etcdPending + s.opts.Writer + "/" + fmt.Sprintf("%016x", seq)
}

// PutDelivery journals the pending delivery seq; the next commit writes it.
func (s *EtcdStore) PutDelivery(seq uint64, data []byte) {
	s.mu.Lock()
	s.deliveries[seq] = data
	s.mu.Unlock()
	s.poke()
}

// DeleteDelivery forgets the delivery seq.
func (s *EtcdStore) DeleteDelivery(seq uint64) {
	s.mu.Lock()
	if s.stored[seq] {
		s.deliveries[seq] = nil
	} else {
		delete(s.deliveries, seq)
	}
	s.mu.Unlock()
}

// PutStateRule records what a state rule remembers.
func (s *EtcdStore) PutStateRule(name string, data []byte) {
	s.mu.Lock()
	s.stateRules[name] = data
	s.mu.Unlock()
}

// CompleteDelivery forgets the delivery seq and records that it completed,
// in the same commit, which it starts at once.
func (s *EtcdStore) CompleteDelivery(seq uint64, key string, data []byte) {
	s.mu.Lock()
	if s.stored[seq] {
		s.deliveries[seq] = nil
	} else {
		delete(s.deliveries, seq)
	}
	s.completed[key] = data
	s.mu.Unlock()
	s.poke()
}

// ForgetCompleted removes the completed-delivery record key.
func (s *EtcdStore) ForgetCompleted(key string) {
	s.mu.Lock()
	s.completed[key] = nil
	s.mu.Unlock()
}

func (s *EtcdStore) poke() {
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// ForgetEngines removes the checkpoints of the engines not in keep, with
// the next commit of a leader.
func (s *EtcdStore) ForgetEngines(keep []string) ([]string, error) {
	var gone []string
	for name := range s.state.Engines {
		if !slices.Contains(keep, name) {
			gone = append(gone, name)
		}
	}
	return gone, s.deleteEngines(gone)
}

// DeleteEngine removes the checkpoint of the named engine, if this replica
// leads (a standby's engines are the leader's to forget).
func (s *EtcdStore) DeleteEngine(name string) error {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	delete(s.written, name)
	return s.deleteEngines([]string{name})
}

func (s *EtcdStore) deleteEngines(names []string) error {
	if len(names) == 0 {
		return nil
	}
	ops := make([]clientv3.Op, 0, len(names))
	for _, n := range names {
		ops = append(ops, clientv3.OpDelete(s.opts.Prefix+etcdEngines+n))
	}
	err := s.txn(context.Background(), ops)
	if errors.Is(err, ErrNotLeader) {
		return nil
	}
	return err
}

// ResetEngine makes the next commit write the named engine's checkpoint.
func (s *EtcdStore) ResetEngine(name string) {
	s.commitMu.Lock()
	defer s.commitMu.Unlock()
	delete(s.written, name)
}

// Close does nothing: the client is the caller's.
func (s *EtcdStore) Close() error { return nil }

// txn commits ops in transactions of at most maxTxnOps, each guarded by the
// leader key. It stops at the first that fails.
func (s *EtcdStore) txn(ctx context.Context, ops []clientv3.Op) error {
	for len(ops) > 0 {
		key, rev, ok := s.opts.Guard()
		if !ok {
			return ErrNotLeader
		}
		n := min(len(ops), maxTxnOps)
		tctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		resp, err := s.opts.Client.Txn(tctx).If(clientv3.Compare(clientv3.CreateRevision(key), "=", rev)).Then(ops[:n]...).Commit()
		cancel()
		if err != nil {
			return fmt.Errorf("write the shared journal: %w", err)
		}
		if !resp.Succeeded {
			return ErrNotLeader
		}
		ops = ops[n:]
	}
	return nil
}

// watchCompleted tells OnCompleted of every completed-delivery record
// written after Open, until ctx is done; a watch that breaks is started
// again from where it was.
func (s *EtcdStore) watchCompleted(ctx context.Context, log logr.Logger) {
	if s.opts.OnCompleted == nil {
		return
	}
	prefix := s.opts.Prefix + etcdCompleted
	rev := s.rev + 1
	for ctx.Err() == nil {
		wch := s.opts.Client.Watch(clientv3.WithRequireLeader(ctx), prefix, clientv3.WithPrefix(), clientv3.WithRev(rev))
		for wr := range wch {
			if err := wr.Err(); err != nil {
				if wr.CompactRevision > 0 {
					rev = wr.CompactRevision
				}
				log.V(1).Info("Watching the shared journal broke", "error", err.Error())
				break
			}
			for _, ev := range wr.Events {
				key, err := url.PathUnescape(strings.TrimPrefix(string(ev.Kv.Key), prefix))
				if err != nil {
					continue
				}
				s.opts.OnCompleted(key, ev.Type == clientv3.EventTypeDelete)
			}
			rev = wr.Header.Revision + 1
		}
		select {
		case <-ctx.Done():
		case <-time.After(200 * time.Millisecond):
		}
	}
}
