package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"sync"
	"syscall"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/reconcile"
)

// runDaemon loads the config, starts one informer per engine and the controller, and
// runs until SIGINT or SIGTERM. A second signal exits at once, killing running
// handlers.
func runDaemon(parent context.Context, f *runFlags) error {
	log, flush, err := newLogger(f.logFormat, f.verbosity)
	if err != nil {
		return err
	}
	defer flush()
	followLiveHeap(log)
	if f.workers < 1 {
		return fmt.Errorf("--workers %d: must be at least 1", f.workers)
	}

	cfg := config.Default()
	if f.config != "" {
		if cfg, err = config.Load(f.config); err != nil {
			return err
		}
	}
	log.Info("Starting", "version", version, "config", cfg.File, "engines", len(cfg.Engines), "rules", len(cfg.Rules))

	state, err := openState(log, f.stateDir, cfg)
	if err != nil {
		return err
	}
	defer state.close()

	runner := reconcile.NewRunner(reconcile.Options{})
	ctx, stop := signalContext(parent, log, runner)
	defer stop()
	ctx = logr.NewContext(ctx, log)

	// The informers hand their events to the controller, and the controller's
	// state rules read the informers' caches: the informers are made first,
	// with a handler that reaches the controller once it exists (before any
	// informer runs).
	var ctrl *controller.Controller
	informers, err := newInformers(cfg, f, informer.HandlerFunc(func(ev *informer.Event) { ctrl.Handle(ev) }), state != nil, state.resumeFor())
	if err != nil {
		return err
	}
	engines := make([]controller.EngineState, len(informers))
	for i, inf := range informers {
		engines[i] = inf
	}
	opts := controller.Options{
		Config:  cfg,
		Runner:  runner,
		Workers: f.workers,
		Environ: os.Environ(),
		Logger:  log,
		Engines: engines,
	}
	state.controllerOptions(&opts)
	ctrl = controller.New(opts)
	// The deliveries an earlier run left pending go first, before any
	// informer runs.
	if err := state.recover(ctrl); err != nil {
		return err
	}
	state.start(ctx, informers)

	var wg sync.WaitGroup
	for _, inf := range informers {
		wg.Go(func() { inf.Run(ctx) })
	}
	// The controller stops taking events only once the informers stopped
	// handing them on: an event an informer handed on is then never ignored,
	// and a checkpoint never covers an event whose deliveries were not
	// queued (and journaled).
	ctrlCtx, stopCtrl := context.WithCancel(context.WithoutCancel(ctx))
	defer stopCtrl()
	go func() {
		<-ctx.Done()
		wg.Wait()
		stopCtrl()
	}()
	log.Info("Listening to events...")
	err = ctrl.Run(ctrlCtx, f.shutdownTimeout)
	wg.Wait()
	state.save()
	log.Info("Stopped")
	return err
}

// newInformers makes one informer per engine of the config, in config order.
// With checkpoints, each keeps what its checkpoint needs, and resumes from its
// checkpoint in resume when there is one.
func newInformers(cfg *config.Config, f *runFlags, h informer.Handler, checkpoints bool, resume map[string]*informer.Checkpoint) ([]*informer.Informer, error) {
	var types []string
	for _, r := range cfg.Rules {
		types = append(types, r.Types...)
	}
	actions := informer.ActionsFor(types)
	if len(types) == 0 && len(cfg.StateRules) > 0 {
		// Only state rules: the engines stream what the caches need, not
		// every event to log as uncaught.
		actions = []string{}
	}
	out := make([]*informer.Informer, 0, len(cfg.Engines))
	for _, e := range cfg.Engines {
		cli, err := informer.NewClient(e)
		if err != nil {
			return nil, err
		}
		out = append(out, informer.New(informer.Options{
			Name:             e.Name,
			URL:              e.URL,
			Client:           cli,
			Handler:          h,
			Heartbeat:        f.heartbeat,
			HeartbeatTimeout: f.heartbeatTimeout,
			MaxBackoff:       f.maxBackoff,
			Actions:          actions,
			Checkpoints:      checkpoints,
			Resume:           resume[e.Name],
		}))
	}
	return out, nil
}

// signalContext returns a context cancelled by the first SIGINT or SIGTERM; the
// second one kills every running handler and exits at once.
func signalContext(parent context.Context, log logr.Logger, runner *reconcile.Runner) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		select {
		case sig := <-ch:
			log.Info("Shutting down, signal again to exit at once", "signal", sig.String())
			cancel()
		case <-ctx.Done():
			return
		}
		sig := <-ch
		log.Info("Exiting at once", "signal", sig.String(), "killedHandlers", runner.Running())
		runner.KillAll()
		os.Exit(130)
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel()
	}
}
