package daemon

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/monitor"
)

// Daemon is docker-eventsd put together: its engines, its controller, its
// handler runner and its durable store. Make it with New, run it with Run.
type Daemon struct {
	opts Options
	log  logr.Logger
	// actions are the container actions every engine streams.
	actions []string
	// objects are the other kinds of events every engine streams.
	objects map[string][]string
	// handler is what every informer hands its events to: the controller,
	// after Options.Observe when set.
	handler informer.Handler
	ctrl    *controller.Controller
	engines *registry
	state   *durable
	// ha is the election and shared journal of ha: (ha.go), nil without.
	ha *haRun
	// reload is the state of hot reload (reload.go).
	reload reloadState
	// disc is the state of the discovery sources (discovery.go).
	disc discoveryState
	// monitors runs the config's monitors; nil without (monitor.go).
	monitors *monitor.Scheduler

	// obs is the daemon's view of itself: meters, metrics, watchdog
	// (observe.go); created is when New built it.
	obs     *observer
	created time.Time

	started atomic.Bool
	// closeOnce closes the state file once, by Run or Close.
	closeOnce sync.Once
}

// New builds the daemon for opts: it opens the state file (when
// Options.StateDir is set) and queues the deliveries an earlier run left
// pending, builds the controller, then one informer per engine of the
// config, in config order, each resuming from its checkpoint. Nothing runs
// until Run; a Daemon that is never run must be closed (Close).
func New(opts Options) (*Daemon, error) {
	if opts.Config == nil {
		return nil, errors.New("daemon: Options.Config is required")
	}
	opts = opts.withDefaults()
	cfg := opts.Config
	d := &Daemon{opts: opts, log: opts.Logger, actions: actions(cfg), objects: objects(cfg), engines: newRegistry(), created: time.Now()}
	var err error
	if d.obs, err = newObserver(opts.Metrics, d.engines, opts.StuckAfter); err != nil {
		return nil, fmt.Errorf("daemon: register metrics: %w", err)
	}
	if cfg.HA != nil {
		// HA: the shared journal in etcd replaces the state file.
		d.ha, d.state, err = openHA(d, cfg.HA)
	} else {
		d.state, err = openDurable(d.log, opts.StateDir, cfg)
	}
	if err != nil {
		return nil, err
	}
	ctrlOpts := controller.Options{
		Config:    cfg,
		Runner:    opts.Runner,
		Workers:   opts.Workers,
		Environ:   opts.Environ,
		Logger:    d.log,
		EngineSet: d.engines,
		Metrics:   opts.Metrics,
		Watchdog:  d.obs.watchdog,
		DryRun:    opts.DryRun,
	}
	d.state.controllerOptions(&ctrlOpts)
	d.ha.controllerOptions(&ctrlOpts)
	results := monitorResults(cfg, &ctrlOpts)
	d.ctrl = controller.New(ctrlOpts)
	d.handler = d.ctrl
	if obs := opts.Observe; obs != nil {
		d.handler = informer.HandlerFunc(func(ev *informer.Event) {
			obs.Handle(ev)
			d.ctrl.Handle(ev)
		})
	}
	if err := d.newMonitors(results); err != nil {
		d.state.close()
		return nil, err
	}
	// The deliveries an earlier run left pending go first, before any
	// informer is built.
	if err := d.state.recover(d.ctrl); err != nil {
		d.state.close()
		d.ha.stop()
		return nil, err
	}
	d.reload.static = slices.Clone(cfg.Engines)
	d.disc.origin = d.engineOrigins(cfg.Engines)
	if cfg.File != "" {
		if data, err := os.ReadFile(cfg.File); err == nil {
			sum := sha256.Sum256(data)
			d.reload.hash = sum[:]
		}
	}
	for _, e := range cfg.Engines {
		eng, err := d.newEngine(e, d.state.takeResume(e.Name))
		if err == nil {
			err = d.engines.add(eng)
		}
		if err != nil {
			d.state.close()
			d.ha.stop()
			return nil, err
		}
	}
	return d, nil
}

// newEngine builds the informer of e, resuming from cp when not nil.
func (d *Daemon) newEngine(e config.Engine, cp *informer.Checkpoint) (*engine, error) {
	cli, err := d.opts.NewClient(e)
	if err != nil {
		return nil, fmt.Errorf("engine %q: %w", e.Name, err)
	}
	actions, objects := d.engineFilters()
	inf := informer.New(informer.Options{
		Name:             e.Name,
		URL:              e.URL,
		Client:           cli,
		Handler:          d.obs.meter(e.Name, d.handler),
		Heartbeat:        d.opts.Heartbeat,
		HeartbeatTimeout: d.opts.HeartbeatTimeout,
		MaxBackoff:       d.opts.MaxBackoff,
		Actions:          actions,
		Objects:          objects,
		// Always kept, state file or not: a reload that restarts the
		// engine (its event filter changed) resumes the new informer from
		// the old one's replay point (ReplaceEngine).
		Checkpoints: true,
		Resume:      cp,
	})
	return &engine{inf: inf, url: e.URL, spec: e, cli: cli}, nil
}

// Run runs the daemon until ctx is done, then shuts it down (see the
// package doc for the order) and closes the state file. It logs with the
// logger of ctx, or Options.Logger. It returns an error if called twice.
func (d *Daemon) Run(ctx context.Context) error {
	if !d.started.CompareAndSwap(false, true) {
		return errors.New("daemon: Run called more than once")
	}
	defer d.Close()
	log, err := logr.FromContext(ctx)
	if err != nil {
		log = d.log
		ctx = logr.NewContext(ctx, log)
	}

	go d.obs.watchdog.Run(ctx)
	d.ha.start(ctx, d.engines.names())
	d.state.start(ctx, d.engines.sources, d.opts.CheckpointInterval)
	d.engines.start(ctx)
	d.runDiscovery(ctx)
	defer d.stopDiscovery()
	monitorsDone := d.runMonitors(ctx)
	// The controller stops taking events only once the engines (and the
	// monitors) stopped handing them on: an event an informer handed on is
	// then never ignored, and a checkpoint never covers an event whose
	// deliveries were not queued (and journaled).
	ctrlCtx, stopCtrl := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCtrl()
	go func() {
		<-ctx.Done()
		d.stopDiscovery()
		d.engines.stop()
		<-monitorsDone
		stopCtrl()
	}()
	log.Info("Listening to events...")
	err = d.ctrl.Run(ctrlCtx, d.opts.ShutdownTimeout)
	d.engines.stop()
	d.state.save(d.engines.sources())
	d.ha.stop()
	log.Info("Stopped")
	return err
}

// Close closes the state file of a daemon that was never run; Run closes it
// itself. Safe to call more than once.
func (d *Daemon) Close() {
	d.closeOnce.Do(func() {
		d.engines.stop()
		d.state.close()
		d.ha.stop()
	})
}

// AddEngine adds the engine e while the daemon runs (or before): its
// informer starts at once (with Run), from its first list as the baseline
// (or, with a state directory, from the checkpoint an earlier run left for a
// discovered engine at the same URL), and the controller learns its URL.
func (d *Daemon) AddEngine(e config.Engine) error {
	eng, err := d.newEngine(e, d.state.takeDiscovered(e))
	if err != nil {
		return err
	}
	d.ctrl.AddEngine(e)
	if err := d.engines.add(eng); err != nil {
		return err
	}
	d.log.Info("Added engine", "engine", e.Name, "url", e.URL)
	return nil
}

// RemoveEngine removes the named engine: it leaves the state rules' view
// with its containers, its informer stops, and RemoveEngine returns once its
// goroutines ended. Its checkpoint is forgotten. Deliveries of its events
// already queued still run.
func (d *Daemon) RemoveEngine(name string) error {
	if err := d.engines.remove(name); err != nil {
		return err
	}
	d.state.engineRemoved(name)
	d.obs.forget(name)
	d.log.Info("Removed engine", "engine", name)
	return nil
}

// ReplaceEngine replaces the engine of e's name with e (a new URL, TLS
// files...): the old informer stops and is waited for, then the new one
// starts. At the same URL it resumes where the old one stopped (informers
// always keep checkpoints, state directory or not): its cache and replay
// point, so that nothing is missed or handed on twice. At another URL
// (another engine), its first list is the baseline, as at start-up.
func (d *Daemon) ReplaceEngine(e config.Engine) error {
	d.ctrl.AddEngine(e)
	resumed := false
	err := d.engines.replace(e.Name, func(old *engine) (*engine, error) {
		var cp *informer.Checkpoint
		if old.url == e.URL {
			cp, _ = old.inf.Checkpoint()
		}
		resumed = cp != nil
		return d.newEngine(e, cp)
	})
	if err != nil {
		return err
	}
	d.state.engineReplaced(e.Name, resumed)
	d.log.Info("Replaced engine", "engine", e.Name, "url", e.URL, "resumed", resumed)
	return nil
}

// Engines returns the names of the engines, in registration order.
func (d *Daemon) Engines() []string { return d.engines.names() }

// Informer returns the informer of the named engine, nil when there is
// none: to wait for its first list (Synced), or read its cache.
func (d *Daemon) Informer(name string) *informer.Informer { return d.engines.informer(name) }

// Pending returns the number of deliveries not done yet.
func (d *Daemon) Pending() int { return d.ctrl.Pending() }

// KillHandlers kills every running handler at once (a second signal) and
// returns how many there were.
func (d *Daemon) KillHandlers() int {
	n := d.opts.Runner.Running()
	d.opts.Runner.KillAll()
	return n
}
