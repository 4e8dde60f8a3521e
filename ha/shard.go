package ha

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/go-logr/logr"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// Sharder is shard mode: the engines are shared among the live replicas.
// Each replica registers under <prefix>shard/members/ on a session lease, and
// owns the engines that rendezvous hashing (Owner) gives it over the
// members; ownership is a key <prefix>shard/owners/<engine> under the owner's
// lease, claimed only once no other replica holds it, so that an engine
// has one owner at a time even while views of the members differ. A
// replica starts a handler for an engine's event only while it holds that
// engine's key and its lease is valid by its own clock (AllowedEngine);
// the fence token is the key's create revision. State rules, which may span
// engines, run on the replica elected as in leader mode (Allowed): every
// replica follows every engine, so the leader's view is whole.
type Sharder struct {
	opts   Options
	log    logr.Logger
	leader *Elector
	keeper *Elector // its renew keeps the ownership lease
	// base holds the members' and the owners' keys (<prefix>shard/).
	base string

	mu      sync.Mutex
	engines []string
	wake    chan struct{}
	members []string
	// owned are the engines this replica holds, with their token.
	owned     map[string]int64
	memberKey string
	memberRev int64
	deadline  time.Time
	changed   chan struct{}
}

// NewSharder returns the Sharder of opts; nothing runs until Run.
func NewSharder(opts Options) (*Sharder, error) {
	leader, err := NewElector(opts)
	if err != nil {
		return nil, err
	}
	keeper, _ := NewElector(opts)
	return &Sharder{opts: leader.opts, log: leader.log, leader: leader, keeper: keeper, base: opts.Prefix + "shard/",
		wake: make(chan struct{}, 1), owned: map[string]int64{}, changed: make(chan struct{})}, nil
}

// Leader is the election of the state rules' replica.
func (s *Sharder) Leader() *Elector { return s.leader }

// SetEngines sets the engines to share (the config's).
func (s *Sharder) SetEngines(names []string) {
	s.mu.Lock()
	s.engines = slices.Clone(names)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// Replica returns this replica's name.
func (s *Sharder) Replica() string { return s.opts.ID }

// Allowed reports whether this replica runs the state rules now.
func (s *Sharder) Allowed() (int64, bool) { return s.leader.Allowed() }

// AllowedEngine reports whether this replica may start a handler for an
// event of engine now, and the fence token of its ownership.
func (s *Sharder) AllowedEngine(engine string) (int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	tok, ok := s.owned[engine]
	if !ok || !time.Now().Before(s.deadline) {
		return 0, false
	}
	return tok, true
}

// Owns reports whether this replica holds engine (its replay point is this
// replica's to write).
func (s *Sharder) Owns(engine string) bool {
	_, ok := s.AllowedEngine(engine)
	return ok
}

// Guard returns this replica's member key and its create revision while
// its lease is valid: the condition of its writes to the shared journal.
func (s *Sharder) Guard() (string, int64, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.memberKey == "" || !time.Now().Before(s.deadline) {
		return "", 0, false
	}
	return s.memberKey, s.memberRev, true
}

// Changed returns a channel closed when Allowed or AllowedEngine may have
// changed.
func (s *Sharder) Changed() <-chan struct{} {
	lc := s.leader.Changed()
	s.mu.Lock()
	sc := s.changed
	s.mu.Unlock()
	out := make(chan struct{})
	go func() {
		select {
		case <-lc:
		case <-sc:
		case <-time.After(s.opts.TTL):
		}
		close(out)
	}()
	return out
}

// Status returns the state rules' election, the members and the engines
// this replica owns.
func (s *Sharder) Status() (Status, []string, []string) {
	st := s.leader.Status()
	s.mu.Lock()
	defer s.mu.Unlock()
	owned := make([]string, 0, len(s.owned))
	if time.Now().Before(s.deadline) {
		for e := range s.owned {
			owned = append(owned, e)
		}
	}
	slices.Sort(owned)
	return st, slices.Clone(s.members), owned
}

func (s *Sharder) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// Run runs the state rules' election and the sharing of the engines until
// ctx is done, each session lost retried with backoff.
func (s *Sharder) Run(ctx context.Context) {
	var wg sync.WaitGroup
	wg.Go(func() { s.leader.Run(ctx) })
	defer wg.Wait()
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = 200*time.Millisecond, s.opts.TTL
	for ctx.Err() == nil {
		err := s.term(ctx)
		if ctx.Err() != nil {
			return
		}
		wait := bo.NextBackOff()
		s.log.Info("Registering again", "reason", errString(err), "after", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// term is one session: register, then claim and release engines as the
// members change, until the lease may be lost.
func (s *Sharder) term(ctx context.Context) error {
	cli := s.opts.Client
	sent := time.Now()
	gctx, cancel := context.WithTimeout(ctx, s.opts.TTL)
	lease, err := cli.Grant(gctx, int64(s.opts.TTL/time.Second))
	cancel()
	if err != nil {
		return err
	}
	tctx, stop := context.WithCancel(ctx)
	defer stop()
	lv := &leaseView{deadline: sent.Add(time.Duration(lease.TTL)*time.Second - s.keeper.margin)}
	lost := make(chan error, 1)
	go s.keeper.renew(tctx, lease.ID, lv, lost)
	defer func() {
		s.mu.Lock()
		s.owned, s.memberKey, s.deadline = map[string]int64{}, "", time.Time{}
		s.notifyLocked()
		s.mu.Unlock()
		s.keeper.revoke(lease.ID)
	}()
	memberKey := s.base + "members/" + s.opts.ID
	resp, err := cli.Txn(tctx).If(clientv3.Compare(clientv3.CreateRevision(memberKey), "=", 0)).
		Then(clientv3.OpPut(memberKey, s.opts.ID, clientv3.WithLease(lease.ID))).Commit()
	if err != nil {
		return err
	}
	if !resp.Succeeded {
		return errors.New("another replica of this id is a member")
	}
	s.mu.Lock()
	s.memberKey, s.memberRev, s.deadline = memberKey, resp.Header.Revision, lv.get()
	s.mu.Unlock()
	lv.follow(func(d time.Time) {
		s.mu.Lock()
		if d.After(s.deadline) {
			s.deadline = d
		}
		s.mu.Unlock()
	})
	for {
		rev, err := s.balance(tctx, lease.ID)
		if err != nil {
			return err
		}
		wctx, wcancel := context.WithCancel(clientv3.WithRequireLeader(tctx))
		wch := cli.Watch(wctx, s.base, clientv3.WithPrefix(), clientv3.WithRev(rev+1), clientv3.WithKeysOnly())
		var why error
	wait:
		for {
			select {
			case <-tctx.Done():
				why = tctx.Err()
				break wait
			case err := <-lost:
				why = err
				break wait
			case <-s.wake:
				break wait
			case <-time.After(time.Until(lv.get())):
				if !time.Now().Before(lv.get()) {
					why = errors.New("lease not renewed in time")
					break wait
				}
			case wr, ok := <-wch:
				if !ok || wr.Err() != nil {
					break wait
				}
				if len(wr.Events) > 0 {
					break wait
				}
			}
		}
		wcancel()
		if why != nil {
			return why
		}
	}
}

// balance reads the members and the owners, releases the engines this
// replica holds but no longer should (it stops dispatching them first),
// and claims those it should that no one holds. It returns the revision
// read at.
func (s *Sharder) balance(ctx context.Context, lease clientv3.LeaseID) (int64, error) {
	cli := s.opts.Client
	rctx, cancel := context.WithTimeout(ctx, s.opts.TTL/2)
	resp, err := cli.Get(rctx, s.base, clientv3.WithPrefix())
	cancel()
	if err != nil {
		return 0, err
	}
	var members []string
	holder := map[string]string{}
	holderRev := map[string]int64{}
	for _, kv := range resp.Kvs {
		k := strings.TrimPrefix(string(kv.Key), s.base)
		switch {
		case strings.HasPrefix(k, "members/"):
			members = append(members, strings.TrimPrefix(k, "members/"))
		case strings.HasPrefix(k, "owners/"):
			e := strings.TrimPrefix(k, "owners/")
			holder[e], holderRev[e] = string(kv.Value), kv.CreateRevision
		}
	}
	slices.Sort(members)
	s.mu.Lock()
	engines := slices.Clone(s.engines)
	s.members = members
	// Keys lost (deleted, or not ours any more) are not held.
	for e, tok := range s.owned {
		if holder[e] != s.opts.ID || holderRev[e] != tok {
			delete(s.owned, e)
		}
	}
	var release []string
	for e := range s.owned {
		if !slices.Contains(engines, e) || Owner(e, members) != s.opts.ID {
			release = append(release, e)
		}
	}
	for _, e := range release {
		delete(s.owned, e) // dispatch stops before the key goes
	}
	s.notifyLocked()
	s.mu.Unlock()
	for _, e := range release {
		k := s.base + "owners/" + e
		_, _ = cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", holderRev[e])).Then(clientv3.OpDelete(k)).Commit()
		s.log.V(1).Info("Released an engine", "engine", e)
	}
	for _, e := range engines {
		if Owner(e, members) != s.opts.ID || holder[e] != "" {
			continue
		}
		k := s.base + "owners/" + e
		tr, err := cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
			Then(clientv3.OpPut(k, s.opts.ID, clientv3.WithLease(lease))).Commit()
		if err != nil {
			return 0, err
		}
		if tr.Succeeded {
			s.mu.Lock()
			s.owned[e] = tr.Header.Revision
			s.notifyLocked()
			s.mu.Unlock()
			s.log.V(1).Info("Claimed an engine", "engine", e, "fenceToken", tr.Header.Revision)
		}
	}
	return resp.Header.Revision, nil
}
