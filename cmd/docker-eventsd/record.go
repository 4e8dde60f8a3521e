package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/daemon"
)

// recordFlags are the flags of record.
type recordFlags struct {
	config, output, logFormat   string
	verbosity                   int
	heartbeat, heartbeatTimeout time.Duration
	maxBackoff, duration        time.Duration
}

func newRecordCommand() *cobra.Command {
	var f recordFlags
	cmd := &cobra.Command{
		Use:   "record -c events.yml -o FILE",
		Short: "Record every event as the rules see it, with its cached container, as JSON lines",
		Long: `record follows the cluster of events.yml as run does and writes every event the
rules see (those the engines stream for these rules, the synthesized ones,
engine_down and engine_up included), each with the cached container, one JSON
object a line; and, for each engine, the containers it had when it was first in
sync. It runs no handler (the daemon's log, "Would run" included, shows at
-v 1). It stops on SIGINT or SIGTERM, or after --duration.
"docker-eventsd replay" plays a recording back; "docker-eventsd match" takes one
of its lines.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return runRecord(cmd.Context(), &f) },
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "path of events.yml (required)")
	fl.StringVarP(&f.output, "output", "o", "", "file to write the recording to (required; - for stdout)")
	fl.DurationVar(&f.duration, "duration", 0, "stop after this long (0: at SIGINT or SIGTERM)")
	fl.StringVar(&f.logFormat, "log-format", "console", "log format: console or json")
	fl.IntVarP(&f.verbosity, "verbosity", "v", 0, "log verbosity: 0 info, 1 debug (the daemon's own log), 2 trace")
	fl.DurationVar(&f.heartbeat, "heartbeat", daemon.DefaultHeartbeat, "as run --heartbeat")
	fl.DurationVar(&f.heartbeatTimeout, "heartbeat-timeout", daemon.DefaultHeartbeatTimeout, "as run --heartbeat-timeout")
	fl.DurationVar(&f.maxBackoff, "max-backoff", daemon.DefaultMaxBackoff, "as run --max-backoff")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

// runRecord runs a daemon that runs nothing (a dry run) and records what its
// informers hand on.
func runRecord(parent context.Context, f *recordFlags) error {
	log, flush, err := newLogger(f.logFormat, f.verbosity)
	if err != nil {
		return err
	}
	defer flush()
	cfg, err := config.Load(f.config)
	if err != nil {
		return err
	}
	var out io.Writer = os.Stdout
	if f.output != "-" {
		file, err := os.Create(f.output)
		if err != nil {
			return fmt.Errorf("recording: %w", err)
		}
		defer file.Close()
		out = file
	}
	rec := daemon.NewRecorder(out)
	d, err := daemon.New(daemon.Options{
		Config: cfg, Heartbeat: f.heartbeat, HeartbeatTimeout: f.heartbeatTimeout, MaxBackoff: f.maxBackoff,
		ShutdownTimeout: -1, Logger: log, Observe: rec, DryRun: true,
	})
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(parent, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if f.duration > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, f.duration)
		defer cancel()
	}
	baselines := make(chan struct{})
	go func() {
		defer close(baselines)
		rec.Baselines(ctx, d)
	}()
	log.Info("Recording", "file", f.output, "engines", len(cfg.Engines))
	// The daemon's own lines at -v 1: a recording's log is about the
	// recording.
	err = d.Run(logr.NewContext(ctx, log.V(1)))
	<-baselines
	n, werr := rec.Lines()
	log.Info("Recorded", "file", f.output, "lines", n)
	if werr != nil {
		return errors.Join(err, fmt.Errorf("recording: %w", werr))
	}
	return err
}
