package ha

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/go-logr/logr"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// Options configures an Elector.
type Options struct {
	// Client is the etcd client (NewClient); required. The Elector does not
	// close it.
	Client *clientv3.Client
	// Prefix starts every key (config.HAEtcd.Prefix); it ends with "/".
	Prefix string
	// TTL is the session lease (whole seconds).
	TTL time.Duration
	// ID is this replica's name.
	ID string
	// Margin is how long before the end of its lease, by its own clock, the
	// leader stops starting handlers (TTL/4 when zero).
	Margin time.Duration
	// Logger logs elections and lost leases.
	Logger logr.Logger
	// OnStepDown, when set, is called each time this replica stops leading
	// (the daemon stops its running handlers).
	OnStepDown func()
}

// Status is what an Elector knows of the election.
type Status struct {
	// Replica is this replica's name.
	Replica string `json:"replica"`
	// Leading reports whether this replica leads and may start handlers.
	Leading bool `json:"leading"`
	// Leader is the name of the replica that leads, "" when none is known.
	Leader string `json:"leader"`
	// LeaderSince is when that leadership began (the leader's clock).
	LeaderSince time.Time `json:"leaderSince,omitzero"`
	// FenceToken is the token of that leadership, 0 when none is known.
	FenceToken int64 `json:"fenceToken"`
	// Connected reports whether the last call to etcd succeeded.
	Connected bool `json:"connected"`
}

// leaderValue is the value of the leader key: who leads, and since when.
type leaderValue struct {
	ID    string    `json:"id"`
	Since time.Time `json:"since,omitzero"`
	Token int64     `json:"token,omitempty"`
}

// Elector campaigns for this replica and tells the controller whether it
// may start handlers. Make it with NewElector, run it with Run.
type Elector struct {
	opts   Options
	log    logr.Logger
	ttl    int64
	margin time.Duration
	// electionPrefix holds the candidates' keys; the first created leads.
	electionPrefix string
	metrics        *electorMetrics

	mu sync.Mutex
	// leading is set while this replica holds the leader key; token and key
	// are those of the key; deadline is the end of the lease by this
	// process's monotonic clock, minus the margin.
	leading  bool
	token    int64
	key      string
	deadline time.Time
	since    time.Time
	// changed is closed (and replaced) whenever Allowed may change.
	changed chan struct{}
	// seen is the leader read from etcd, for Status.
	seen      leaderValue
	connected bool
}

// NewElector returns the Elector of opts; nothing runs until Run.
func NewElector(opts Options) (*Elector, error) {
	if opts.Client == nil || opts.ID == "" || opts.Prefix == "" {
		return nil, errors.New("ha: Options.Client, ID and Prefix are required")
	}
	if opts.TTL < time.Second || opts.TTL%time.Second != 0 {
		return nil, fmt.Errorf("ha: TTL %s is not a whole number of seconds", opts.TTL)
	}
	if opts.Margin <= 0 {
		opts.Margin = opts.TTL / 4
	}
	if opts.Logger.GetSink() == nil {
		opts.Logger = logr.Discard()
	}
	return &Elector{
		opts: opts, log: opts.Logger.WithValues("replica", opts.ID),
		ttl: int64(opts.TTL / time.Second), margin: opts.Margin,
		electionPrefix: opts.Prefix + "election/",
		changed:        make(chan struct{}),
	}, nil
}

// Replica returns this replica's name.
func (e *Elector) Replica() string { return e.opts.ID }

// Allowed reports whether this replica may start a handler now, and the
// fence token of its leadership: it leads, and its lease is valid by its
// own clock with the margin.
func (e *Elector) Allowed() (int64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.leading || !time.Now().Before(e.deadline) {
		return 0, false
	}
	return e.token, true
}

// Guard returns the leader key and its create revision while this replica
// may start handlers: the condition of the shared journal's transactions.
func (e *Elector) Guard() (string, int64, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.leading || !time.Now().Before(e.deadline) {
		return "", 0, false
	}
	return e.key, e.token, true
}

// Changed returns a channel closed when Allowed may have changed.
func (e *Elector) Changed() <-chan struct{} {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.changed
}

// Status returns what this replica knows of the election.
func (e *Elector) Status() Status {
	e.mu.Lock()
	defer e.mu.Unlock()
	s := Status{Replica: e.opts.ID, Leader: e.seen.ID, LeaderSince: e.seen.Since, FenceToken: e.seen.Token, Connected: e.connected}
	if e.leading && time.Now().Before(e.deadline) {
		s.Leading, s.Leader, s.LeaderSince, s.FenceToken = true, e.opts.ID, e.since, e.token
	}
	return s
}

// notify wakes those waiting on Changed; e.mu is held.
func (e *Elector) notify() {
	close(e.changed)
	e.changed = make(chan struct{})
}

// setConnected records whether etcd answered.
func (e *Elector) setConnected(ok bool) {
	e.mu.Lock()
	e.connected = ok
	e.mu.Unlock()
}

// Run campaigns until ctx is done: one session after another, each lost
// session (or etcd out of reach) retried with backoff. It never returns
// early; while it cannot reach etcd this replica is a standby.
func (e *Elector) Run(ctx context.Context) {
	e.log.Info("Joining the election", "prefix", e.opts.Prefix, "ttl", e.opts.TTL, "margin", e.margin)
	go e.watchLeader(ctx)
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = 200*time.Millisecond, e.opts.TTL
	for ctx.Err() == nil {
		start := time.Now()
		err := e.term(ctx)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > 2*e.opts.TTL {
			bo.Reset()
		}
		wait := bo.NextBackOff()
		e.log.Info("Campaigning again", "reason", errString(err), "after", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// term is one session: grant a lease, keep it, campaign, lead until the
// lease may be lost. It returns why it ended.
func (e *Elector) term(ctx context.Context) error {
	cli := e.opts.Client
	sent := time.Now()
	gctx, cancel := context.WithTimeout(ctx, e.opts.TTL)
	lease, err := cli.Grant(gctx, e.ttl)
	cancel()
	if err != nil {
		e.setConnected(false)
		return fmt.Errorf("grant lease: %w", err)
	}
	e.setConnected(true)
	sctx, stop := context.WithCancel(ctx)
	defer stop()
	sess, err := concurrency.NewSession(cli, concurrency.WithLease(lease.ID), concurrency.WithContext(sctx))
	if err != nil {
		e.revoke(lease.ID)
		return fmt.Errorf("session: %w", err)
	}
	defer func() {
		sess.Orphan()
		e.revoke(lease.ID)
	}()
	// valid is the end of the lease by this clock, moved on by renew.
	lost := make(chan error, 1)
	lv := &leaseView{deadline: sent.Add(time.Duration(lease.TTL)*time.Second - e.margin)}
	go e.renew(sctx, lease.ID, lv, lost)

	// A Campaign waiting behind another leader does not end with its
	// session: end it when the session or the lease is lost.
	cctx, cancelCampaign := context.WithCancel(sctx)
	defer cancelCampaign()
	var whyMu sync.Mutex
	var whyErr error
	setWhy := func(err error) {
		whyMu.Lock()
		if whyErr == nil {
			whyErr = err
		}
		whyMu.Unlock()
	}
	whyOf := func() error {
		whyMu.Lock()
		defer whyMu.Unlock()
		return whyErr
	}
	go func() {
		select {
		case <-sess.Done():
			setWhy(errors.New("session ended"))
		case err := <-lost:
			setWhy(err)
		case <-cctx.Done():
		}
		cancelCampaign()
	}()
	el := concurrency.NewElection(sess, e.electionPrefix)
	val, _ := json.Marshal(leaderValue{ID: e.opts.ID})
	if err := el.Campaign(cctx, string(val)); err != nil {
		if why := whyOf(); why != nil {
			return why
		}
		return fmt.Errorf("campaign: %w", err)
	}
	if cctx.Err() != nil {
		return errString2(whyOf(), "campaign ended")
	}
	token, key := el.Rev(), el.Key()
	since := time.Now()
	if !e.becomeLeader(key, token, since, lv) {
		return errors.New("lease ran out while campaigning")
	}
	e.log.Info("Leading", "fenceToken", token, "since", since.UTC().Format(time.RFC3339Nano))
	val, _ = json.Marshal(leaderValue{ID: e.opts.ID, Since: since.UTC(), Token: token})
	pctx, pcancel := context.WithTimeout(cctx, e.opts.TTL)
	if err := el.Proclaim(pctx, string(val)); err != nil {
		e.log.V(1).Info("Announcing the leadership failed", "error", err.Error())
	}
	pcancel()
	// Lead until the lease may be lost: its end by this clock passes
	// without a renewal, the session ends, or ctx is done.
	for {
		wait := time.Until(lv.get())
		if wait <= 0 {
			e.stepDown("lease not renewed in time")
			return errString2(whyOf(), "lease not renewed in time")
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-cctx.Done():
			t.Stop()
			e.stepDown(errString2(whyOf(), "stopping").Error())
			if ctx.Err() != nil {
				rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
				_ = el.Resign(rctx)
				rcancel()
			}
			return errString2(whyOf(), "stopping")
		}
	}
}

// becomeLeader records the leadership of key (token) if the lease is still
// valid by this clock.
func (e *Elector) becomeLeader(key string, token int64, since time.Time, lv *leaseView) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	d := lv.get()
	if !time.Now().Before(d) {
		return false
	}
	e.leading, e.key, e.token, e.since, e.deadline = true, key, token, since, d
	lv.follow(e.extend)
	e.notify()
	if e.metrics != nil {
		e.metrics.lead(token, since)
	}
	return true
}

// extend moves the end of the lease of the leadership on.
func (e *Elector) extend(d time.Time) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.leading && d.After(e.deadline) {
		e.deadline = d
	}
}

// stepDown ends this replica's leadership.
func (e *Elector) stepDown(why string) {
	e.mu.Lock()
	was := e.leading
	e.leading, e.key, e.deadline = false, "", time.Time{}
	e.notify()
	e.mu.Unlock()
	if was {
		e.log.Info("Stopped leading", "reason", why)
		if e.metrics != nil {
			e.metrics.standby()
		}
		if e.opts.OnStepDown != nil {
			e.opts.OnStepDown()
		}
	}
}

// revoke revokes the lease, best effort: a leader that stops frees the
// election at once rather than after its TTL.
func (e *Elector) revoke(id clientv3.LeaseID) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, _ = e.opts.Client.Revoke(ctx, id)
}

// errString returns err's message, "" for nil.
func errString(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

// errString2 returns err, or an error of msg when err is nil.
func errString2(err error, msg string) error {
	if err != nil {
		return err
	}
	return errors.New(msg)
}
