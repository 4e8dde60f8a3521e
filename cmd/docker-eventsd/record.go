package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/daemon"
	"github.com/samalba/docker-eventsd/informer"
)

// recordLine is one line of a recording (JSON lines): an event as the rules
// saw it, with its cached container, or the first list of an engine (the
// containers already there when the recording began).
type recordLine struct {
	// At is when the daemon handed the event on (the daemon's clock), or
	// listed the engine: replay --speed keeps the time between lines.
	At       time.Time       `json:"at"`
	Event    *informer.Event `json:"event,omitempty"`
	Baseline *recordBaseline `json:"baseline,omitempty"`
}

// recordBaseline is the containers of an engine when it was first in sync.
type recordBaseline struct {
	Engine     string                `json:"engine"`
	Containers []*informer.Container `json:"containers"`
}

// recorder writes the lines of a recording, one at a time, each flushed.
type recorder struct {
	mu  sync.Mutex
	w   *bufio.Writer
	err error
	n   int
}

// write encodes line, unless an earlier write failed.
func (r *recorder) write(line recordLine) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writeLocked(line)
}

func (r *recorder) writeLocked(line recordLine) {
	if r.err != nil {
		return
	}
	data, err := json.Marshal(line)
	if err == nil {
		data = append(data, '\n')
		_, err = r.w.Write(data)
	}
	if err == nil {
		err = r.w.Flush()
	}
	if err != nil {
		r.err = err
		return
	}
	r.n++
}

// Handle records ev: the daemon's Observe.
func (r *recorder) Handle(ev *informer.Event) { r.write(recordLine{At: time.Now(), Event: ev}) }

// baseline records the containers of the engine of inf once it is in sync.
// The list is taken while no event line can be written: an event applied
// after it is recorded after it.
func (r *recorder) baseline(ctx context.Context, inf *informer.Informer) {
	select {
	case <-inf.Synced():
	case <-ctx.Done():
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.writeLocked(recordLine{At: time.Now(), Baseline: &recordBaseline{Engine: inf.Name(), Containers: inf.Cache().List()}})
}

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
object a line; first, for each engine, the containers it had when it was first
in sync. It runs no handler. It stops on SIGINT or SIGTERM, or after --duration.
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
	fl.IntVarP(&f.verbosity, "verbosity", "v", 0, "log verbosity: 0 info, 1 debug, 2 trace")
	fl.DurationVar(&f.heartbeat, "heartbeat", daemon.DefaultHeartbeat, "as run --heartbeat")
	fl.DurationVar(&f.heartbeatTimeout, "heartbeat-timeout", daemon.DefaultHeartbeatTimeout, "as run --heartbeat-timeout")
	fl.DurationVar(&f.maxBackoff, "max-backoff", daemon.DefaultMaxBackoff, "as run --max-backoff")
	_ = cmd.MarkFlagRequired("config")
	_ = cmd.MarkFlagRequired("output")
	return cmd
}

// runRecord runs a daemon that runs nothing (a dry run, its "Would run"
// lines at -v 1) and records what its informers hand on.
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
	rec := &recorder{w: bufio.NewWriter(out)}
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
	var wg sync.WaitGroup
	for _, name := range d.Engines() {
		wg.Go(func() { rec.baseline(ctx, d.Informer(name)) })
	}
	log.Info("Recording", "file", f.output, "engines", len(cfg.Engines))
	err = d.Run(logr.NewContext(ctx, log.V(1)))
	wg.Wait()
	log.Info("Recorded", "file", f.output, "lines", rec.n)
	if rec.err != nil {
		return errors.Join(err, fmt.Errorf("recording: %w", rec.err))
	}
	return err
}
