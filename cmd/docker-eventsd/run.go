package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/daemon"
)

// runDaemon loads the config, builds the daemon and runs it until SIGINT or
// SIGTERM. A second signal exits at once, killing running handlers. SIGHUP
// asks the daemon to reload (Daemon.Reload).
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
	if f.dryRun && f.stateDir != "" {
		// A dry run's deliveries count as done: the state file would then
		// hold as completed, and past the checkpoints, events whose handlers
		// never ran, and a real run would not run them.
		return fmt.Errorf("--dry-run with --state-dir: a dry run would record deliveries that never ran as done; leave --state-dir out")
	}
	// A SIGHUP before the daemon is built must not kill it (the default
	// action): it is held here, and reloads once the daemon exists (the file
	// may have changed since it was read).
	earlyHUP := make(chan os.Signal, 1)
	signal.Notify(earlyHUP, syscall.SIGHUP)
	defer signal.Stop(earlyHUP)

	cfg := config.Default()
	if f.config != "" {
		if cfg, err = config.Load(f.config); err != nil {
			return err
		}
	}
	ep, err := f.endpoint()
	if err != nil {
		return err
	}
	log.Info("Starting", "version", version, "config", cfg.File, "engines", len(cfg.Engines), "rules", len(cfg.Rules))

	shutdown := f.shutdownTimeout
	if shutdown <= 0 {
		shutdown = -1 // daemon.Options: stop running handlers at once
	}
	d, err := daemon.New(f.hiddenOptions(daemon.Options{
		Config:           cfg,
		Workers:          f.workers,
		Heartbeat:        f.heartbeat,
		HeartbeatTimeout: f.heartbeatTimeout,
		MaxBackoff:       f.maxBackoff,
		ShutdownTimeout:  shutdown,
		StateDir:         f.stateDir,
		Environ:          os.Environ(),
		Logger:           log,
		Metrics:          ep.registry(),
	}))
	if err != nil {
		return err
	}
	ctx, stop := signalContext(parent, log, d)
	defer stop()
	signal.Stop(earlyHUP)
	select {
	case <-earlyHUP:
		log.Info("Reload requested", "signal", "SIGHUP", "during", "start-up")
		_, _ = d.Reload()
	default:
	}
	if f.watchConfig && cfg.File != "" {
		go func() {
			if err := d.WatchConfig(ctx); err != nil {
				log.Error(err, "Not watching the config file: SIGHUP still reloads")
			}
		}()
	}
	// The endpoint serves until the daemon stopped: /status and /metrics
	// stay up during the shutdown.
	epCtx, stopEndpoint := context.WithCancel(context.WithoutCancel(ctx))
	defer stopEndpoint()
	serveDone, err := ep.serve(epCtx, log, d)
	if err != nil {
		d.Close()
		return err
	}
	err = d.Run(logr.NewContext(ctx, log))
	stopEndpoint()
	<-serveDone
	return err
}

// hiddenOptions sets in opts what the hidden flags (for tests) say.
func (f *runFlags) hiddenOptions(opts daemon.Options) daemon.Options {
	opts.CheckpointInterval = f.checkpointInterval
	opts.DryRun = f.dryRun
	return opts
}

// signalContext returns a context cancelled by the first SIGINT or SIGTERM;
// the second one kills every running handler and exits at once. SIGHUP calls
// d.Reload and does not stop the daemon.
func signalContext(parent context.Context, log logr.Logger, d *daemon.Daemon) (context.Context, func()) {
	ctx, cancel := context.WithCancel(parent)
	ch := make(chan os.Signal, 2)
	hup := make(chan os.Signal, 1)
	done := make(chan struct{})
	signal.Notify(ch, syscall.SIGINT, syscall.SIGTERM)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		stopping := false
		for {
			select {
			case <-hup:
				log.Info("Reload requested", "signal", "SIGHUP")
				// Reload logs what it applied or why it refused.
				_, _ = d.Reload()
			case sig := <-ch:
				if stopping {
					log.Info("Exiting at once", "signal", sig.String(), "killedHandlers", d.KillHandlers())
					os.Exit(130)
				}
				stopping = true
				log.Info("Shutting down, signal again to exit at once", "signal", sig.String())
				cancel()
			case <-done:
				return
			}
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		signal.Stop(hup)
		close(done)
		cancel()
	}
}
