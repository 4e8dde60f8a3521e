package ha

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// leaseView is the end of a lease by this process's monotonic clock, minus
// the margin: the time of the last acknowledged renewal's request plus the
// TTL the server granted.
type leaseView struct {
	mu       sync.Mutex
	deadline time.Time
	// onRenew, when set, hears of every later deadline (the leadership's).
	onRenew func(time.Time)
}

func (l *leaseView) get() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.deadline
}

// follow makes f hear of every later deadline.
func (l *leaseView) follow(f func(time.Time)) {
	l.mu.Lock()
	l.onRenew = f
	l.mu.Unlock()
}

func (l *leaseView) set(d time.Time) {
	l.mu.Lock()
	if d.After(l.deadline) {
		l.deadline = d
	}
	f := l.onRenew
	l.mu.Unlock()
	if f != nil {
		f(d)
	}
}

// renew renews the lease every quarter TTL until ctx is done, timing each
// renewal from before its request; it reports on lost when the lease is
// gone (expired or revoked on the server) or when its end by this clock
// passed without a renewal.
func (e *Elector) renew(ctx context.Context, id clientv3.LeaseID, lv *leaseView, lost chan<- error) {
	every := e.opts.TTL / 4
	t := time.NewTicker(every)
	defer t.Stop()
	report := func(err error) {
		select {
		case lost <- err:
		default:
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if !time.Now().Before(lv.get()) {
			report(errors.New("lease not renewed in time"))
			return
		}
		sent := time.Now()
		rctx, cancel := context.WithTimeout(ctx, every)
		resp, err := e.opts.Client.KeepAliveOnce(rctx, id)
		cancel()
		switch {
		case errors.Is(err, rpctypes.ErrLeaseNotFound):
			e.setConnected(true)
			report(errors.New("lease expired on the server"))
			return
		case err != nil:
			e.setConnected(false)
			e.log.V(1).Info("Renewing the lease failed", "error", err.Error())
		case resp.TTL <= 0:
			report(errors.New("lease expired on the server"))
			return
		default:
			e.setConnected(true)
			lv.set(sent.Add(time.Duration(resp.TTL)*time.Second - e.margin))
		}
	}
}

// watchLeader keeps what Status says of the leader: it reads the leader
// (the first created key under the election prefix) again on every change
// there, deletions included, which Observe would not report.
func (e *Elector) watchLeader(ctx context.Context) {
	cli := e.opts.Client
	for ctx.Err() == nil {
		rev := e.readLeader(ctx)
		wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
		var wch clientv3.WatchChan
		if rev > 0 {
			wch = cli.Watch(wctx, e.electionPrefix, clientv3.WithPrefix(), clientv3.WithRev(rev+1))
		}
		func() {
			defer cancel()
			if wch == nil {
				select {
				case <-ctx.Done():
				case <-time.After(e.opts.TTL / 2):
				}
				return
			}
			for {
				select {
				case <-ctx.Done():
					return
				case wr, ok := <-wch:
					if !ok || wr.Err() != nil {
						return
					}
					if len(wr.Events) > 0 {
						e.readLeader(ctx)
					}
				case <-time.After(e.opts.TTL):
					// A watch cut off from a quorum says nothing: read again.
					e.readLeader(ctx)
				}
			}
		}()
	}
}

// readLeader reads who leads into seen, and returns the revision read at,
// 0 when etcd did not answer.
func (e *Elector) readLeader(ctx context.Context) int64 {
	rctx, cancel := context.WithTimeout(ctx, e.opts.TTL/2)
	defer cancel()
	resp, err := e.opts.Client.Get(rctx, e.electionPrefix, clientv3.WithFirstCreate()...)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err != nil {
		e.connected = false
		return 0
	}
	e.connected = true
	var v leaderValue
	if len(resp.Kvs) > 0 {
		if json.Unmarshal(resp.Kvs[0].Value, &v) != nil {
			v = leaderValue{}
		}
		if v.Token == 0 {
			v.Token = resp.Kvs[0].CreateRevision
		}
	}
	e.seen = v
	if e.metrics != nil {
		e.metrics.seenLeader(v)
	}
	return resp.Header.Revision
}
