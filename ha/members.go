package ha

import (
	"context"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/go-logr/logr"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Membership is this replica's registration under <prefix>members/, on a
// session lease, and its view of the live members: the base of shard mode,
// where each engine is owned by one live replica, chosen with Owner over
// Members. A replica that dies leaves the members when its lease expires,
// within the TTL.
type Membership struct {
	opts   Options
	log    logr.Logger
	prefix string

	mu      sync.Mutex
	members []string
	changed chan struct{}
}

// NewMembership returns the membership of opts (Client, Prefix, TTL, ID);
// nothing runs until Run.
func NewMembership(opts Options) *Membership {
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	return &Membership{opts: opts, log: opts.Logger.WithValues("replica", opts.ID), prefix: opts.Prefix + "members/",
		changed: make(chan struct{})}
}

// Members returns the live members, sorted.
func (m *Membership) Members() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Clone(m.members)
}

// Changed returns a channel closed when Members changes.
func (m *Membership) Changed() <-chan struct{} {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.changed
}

// Owns reports whether this replica owns key in its current view.
func (m *Membership) Owns(key string) bool {
	return Owner(key, m.Members()) == m.opts.ID
}

// set replaces the view of the members.
func (m *Membership) set(members []string) {
	slices.Sort(members)
	m.mu.Lock()
	defer m.mu.Unlock()
	if slices.Equal(members, m.members) {
		return
	}
	m.members = members
	close(m.changed)
	m.changed = make(chan struct{})
}

// Run registers this replica and follows the members until ctx is done,
// registering again (with backoff) whenever its session ends.
func (m *Membership) Run(ctx context.Context) {
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = 200*time.Millisecond, m.opts.TTL
	for ctx.Err() == nil {
		err := m.session(ctx)
		if ctx.Err() != nil {
			break
		}
		m.set(nil) // out of touch: own nothing
		wait := bo.NextBackOff()
		m.log.Info("Registering again", "reason", errString(err), "after", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
	m.set(nil)
}

// session is one registration: the member key under a session lease, and
// a watch of the members, until the session or ctx ends.
func (m *Membership) session(ctx context.Context) error {
	cli := m.opts.Client
	sess, err := concurrency.NewSession(cli, concurrency.WithTTL(int(m.opts.TTL/time.Second)), concurrency.WithContext(ctx))
	if err != nil {
		return err
	}
	defer func() {
		sess.Orphan()
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
		_, _ = cli.Revoke(rctx, sess.Lease())
		cancel()
	}()
	if _, err := cli.Put(ctx, m.prefix+m.opts.ID, m.opts.ID, clientv3.WithLease(sess.Lease())); err != nil {
		return err
	}
	for {
		resp, err := cli.Get(ctx, m.prefix, clientv3.WithPrefix(), clientv3.WithKeysOnly())
		if err != nil {
			return err
		}
		var members []string
		for _, kv := range resp.Kvs {
			members = append(members, strings.TrimPrefix(string(kv.Key), m.prefix))
		}
		m.set(members)
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		wch := cli.Watch(wctx, m.prefix, clientv3.WithPrefix(), clientv3.WithRev(resp.Header.Revision+1), clientv3.WithKeysOnly())
		select {
		case <-sess.Done():
			cancel()
			return errString2(nil, "session ended")
		case <-ctx.Done():
			cancel()
			return ctx.Err()
		case _, ok := <-wch:
			cancel()
			if !ok {
				continue
			}
		}
	}
}
