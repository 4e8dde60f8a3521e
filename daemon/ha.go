package daemon

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/go-logr/logr"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/samalba/docker-eventsd/checkpoint"
	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller"
	"github.com/samalba/docker-eventsd/ha"
)

// haRun is the HA side of a daemon whose config has ha: (docs/HA.md): the
// etcd client, the election that gates the controller's handlers, and the
// shared journal that replaces the state file. Its methods do nothing on a
// nil *haRun (no ha:).
type haRun struct {
	cfg config.HA
	cli *clientv3.Client
	// coord is the elector (leader mode) or the sharder (shard mode);
	// elector is the election in both (the state rules' in shard mode).
	coord   haCoordinator
	elector *ha.Elector
	sharder *ha.Sharder
	store   *checkpoint.EtcdStore
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	// closeOnce closes cli once, by Run or Close.
	closeOnce sync.Once
}

// haLoadTimeout bounds how long New waits for etcd to read the shared
// journal, in TTLs: past it the replica starts with its own view only, as
// a standby that campaigns once etcd answers.
const haLoadTimeout = 3

// openHA connects to the etcd of ha: and reads the shared journal: the
// durable state of d. ctrl is called for the completed-delivery records
// other replicas write; it is d.ctrl once New made it.
func openHA(d *Daemon, h *config.HA) (*haRun, *durable, error) {
	if d.opts.StateDir != "" {
		d.log.Info("Not using the state directory: with ha: the state is in etcd", "stateDir", d.opts.StateDir)
	}
	cli, err := ha.NewClient(h.Etcd)
	if err != nil {
		return nil, nil, err
	}
	r := &haRun{cfg: *h, cli: cli}
	hopts := ha.Options{Client: cli, Prefix: h.Etcd.Prefix, TTL: h.TTL, ID: h.ID, Logger: d.log.WithName("ha")}
	if h.Mode == config.HAModeShard {
		// shard.go: engines shared among the replicas, state rules on the
		// elected one.
		r.sharder, err = ha.NewSharder(hopts)
		if err == nil {
			r.elector, r.coord = r.sharder.Leader(), r.sharder
		}
	} else {
		// A leader that may have lost its lease stops its handlers: another
		// replica may run their deliveries soon.
		hopts.OnStepDown = func() { d.opts.Runner.KillAll() }
		r.elector, err = ha.NewElector(hopts)
		r.coord = r.elector
	}
	if err == nil && d.opts.Metrics != nil {
		err = r.elector.RegisterMetrics(d.opts.Metrics)
	}
	if err != nil {
		_ = cli.Close()
		return nil, nil, err
	}
	var id [6]byte
	_, _ = rand.Read(id[:])
	opts := checkpoint.EtcdOptions{
		Client: cli, Prefix: h.Etcd.Prefix + "journal/", Writer: h.ID + "." + hex.EncodeToString(id[:]),
		Guard: r.coord.Guard,
		Owns:  r.owns,
		OnCompleted: func(key string, deleted bool) {
			if deleted {
				d.ctrl.ForgetElsewhere(key)
			} else {
				d.ctrl.CompletedElsewhere(key)
			}
		},
	}
	r.store, err = r.load(d.log, opts)
	if err != nil {
		_ = cli.Close()
		return nil, nil, err
	}
	state, err := newDurable(d.log, r.store, d.opts.Config)
	if err != nil {
		_ = cli.Close()
		return nil, nil, err
	}
	return r, state, nil
}

// load reads the shared journal, retrying with backoff for up to
// haLoadTimeout TTLs; an etcd still out of reach then is not fatal.
func (r *haRun) load(log logr.Logger, opts checkpoint.EtcdOptions) (*checkpoint.EtcdStore, error) {
	ctx, cancel := context.WithTimeout(context.Background(), haLoadTimeout*r.cfg.TTL)
	defer cancel()
	bo := backoff.NewExponentialBackOff()
	bo.InitialInterval, bo.MaxInterval = 200*time.Millisecond, r.cfg.TTL
	for {
		actx, acancel := context.WithTimeout(ctx, r.cfg.TTL)
		s, err := checkpoint.OpenEtcd(actx, opts)
		acancel()
		if err == nil {
			log.Info("Read the shared journal", "journal", s.Path(), "pending", len(s.State().Deliveries),
				"engines", len(s.State().Engines), "completed", len(s.State().Completed))
			return s, nil
		}
		wait := bo.NextBackOff()
		if ctx.Err() != nil {
			log.Error(err, "etcd out of reach: starting without the shared journal, as a standby", "endpoints", r.cfg.Etcd.Endpoints)
			return checkpoint.NewEtcdStore(opts)
		}
		log.Info("Reading the shared journal failed, retrying", "error", err.Error(), "after", wait)
		select {
		case <-ctx.Done():
		case <-time.After(wait):
		}
	}
}

// owns reports whether this replica writes the replay point of engine: in
// shard mode its owner's, in leader mode the leader's (the guard decides).
func (r *haRun) owns(engine string) bool {
	if r.sharder == nil {
		return true
	}
	return r.sharder.Owns(engine)
}

// controllerOptions makes the election the controller's gate.
func (r *haRun) controllerOptions(opts *controller.Options) {
	if r == nil {
		return
	}
	opts.Gate = r.coord
}

// start runs the election until stop: it outlives ctx, so that this
// replica leads until its handlers ended and its journal was written.
func (r *haRun) start(ctx context.Context, engines []string) {
	if r == nil {
		return
	}
	var ectx context.Context
	ectx, r.cancel = context.WithCancel(context.WithoutCancel(ctx))
	if r.sharder != nil {
		r.sharder.SetEngines(engines)
	}
	r.wg.Go(func() { r.coord.Run(ectx) })
}

// haCoordinator is what leader mode (ha.Elector) and shard mode
// (ha.Sharder) give the daemon: the controller's gate, the shared journal's
// guard, and their loop.
type haCoordinator interface {
	controller.Gate
	Guard() (key string, rev int64, ok bool)
	Run(ctx context.Context)
}

// stop ends the election (a leader resigns) and closes the etcd client.
func (r *haRun) stop() {
	if r == nil {
		return
	}
	if r.cancel != nil {
		r.cancel()
		r.wg.Wait()
		r.cancel = nil
	}
	r.closeOnce.Do(func() { _ = r.cli.Close() })
}

// status returns the election's status, nil without ha:.
func (r *haRun) status() *HAStatus {
	if r == nil {
		return nil
	}
	if r.sharder != nil {
		s, members, owned := r.sharder.Status()
		return &HAStatus{Status: s, Mode: r.cfg.Mode, TTL: r.cfg.TTL.String(), Members: members, Owned: owned}
	}
	s := r.elector.Status()
	return &HAStatus{Status: s, Mode: r.cfg.Mode, TTL: r.cfg.TTL.String()}
}

// HAStatus is the HA part of Status: which replica leads, and since when.
type HAStatus struct {
	ha.Status
	// Mode is the mode of ha: (leader).
	Mode string `json:"mode"`
	// TTL is the session lease.
	TTL string `json:"ttl"`
	// Members and Owned are, in shard mode, the live replicas and the
	// engines this one owns (the leader runs the state rules).
	Members []string `json:"members,omitempty"`
	Owned   []string `json:"owned,omitempty"`
}

// HAReady returns the line /readyz adds about the election, "" without
// ha:.
func (d *Daemon) HAReady() string {
	s := d.ha.status()
	if s == nil {
		return ""
	}
	switch {
	case s.Leading:
		return fmt.Sprintf("ha: leader %s (this replica) since %s, fence token %d\n", s.Replica, s.LeaderSince.UTC().Format(time.RFC3339), s.FenceToken)
	case s.Leader != "":
		return fmt.Sprintf("ha: standby %s; leader %s since %s, fence token %d\n", s.Replica, s.Leader, s.LeaderSince.UTC().Format(time.RFC3339), s.FenceToken)
	default:
		return fmt.Sprintf("ha: standby %s; no leader known (etcd connected: %v)\n", s.Replica, s.Connected)
	}
}
