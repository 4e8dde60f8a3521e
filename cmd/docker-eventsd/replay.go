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
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/daemon"
)

// replayFlags are the flags of replay.
type replayFlags struct {
	config, logFormat string
	verbosity         int
	run               bool
	speed             float64
	shutdownTimeout   time.Duration
}

func newReplayCommand() *cobra.Command {
	var f replayFlags
	cmd := &cobra.Command{
		Use:   "replay -c events.yml FILE",
		Short: "Play a recording back: print, in order, each rule that fires; run nothing unless --run",
		Long: `replay reads a recording (docker-eventsd record; - for stdin) and prints, in
order, one line per rule that fires: the event's time, engine, container,
event and rule, tab-separated. Event rules are matched as the daemon matches
them. State rules are evaluated over the replayed cache (the engines' first
lists, then every event's container) after each event, their set settling at
once (debounce and max_delay are not applied) and every run counting as a
success; their line shows the set's size instead of a container.

Nothing runs, unless --run: the handlers then run for real, as the daemon runs
them (retries, order per container, state rules over the replayed cache with
their timings), and replay ends once every delivery is done.

--speed keeps the time between the recorded lines (1), compresses it (10: ten
times faster) or drops it (0, the default: as fast as possible).`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runReplay(cmd.Context(), cmd.InOrStdin(), cmd.OutOrStdout(), args[0], &f)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "path of events.yml (required)")
	fl.BoolVar(&f.run, "run", false, "run the handlers for real")
	fl.Float64Var(&f.speed, "speed", 0, "1 keeps the recorded timing, N plays N times faster, 0 as fast as possible")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "with --run, how long running handlers may finish once the recording ended and nothing is pending")
	fl.StringVar(&f.logFormat, "log-format", "console", "log format: console or json (the log goes to stderr)")
	fl.IntVarP(&f.verbosity, "verbosity", "v", 0, "log verbosity: 0 info, 1 debug, 2 trace")
	_ = cmd.MarkFlagRequired("config")
	return cmd
}

func runReplay(parent context.Context, stdin io.Reader, out io.Writer, path string, f *replayFlags) error {
	if f.speed < 0 {
		return fmt.Errorf("--speed %v: must be 0 (as fast as possible) or more", f.speed)
	}
	log, flush, err := newLogger(f.logFormat, f.verbosity)
	if err != nil {
		return err
	}
	defer flush()
	cfg, err := config.Load(f.config)
	if err != nil {
		return err
	}
	in := stdin
	if path != "-" {
		file, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("recording: %w", err)
		}
		defer file.Close()
		in = file
	}
	ctx, stop := signal.NotifyContext(parent, syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	r, err := daemon.NewReplay(logr.NewContext(ctx, log), daemon.ReplayOptions{
		Config: cfg, Run: f.run, Environ: os.Environ(), ShutdownTimeout: f.shutdownTimeout,
	})
	if err != nil {
		return err
	}
	n, err := play(ctx, in, out, r, f.speed)
	log.V(1).Info("Replayed", "lines", n)
	return errors.Join(err, r.Wait(ctx))
}

// play reads the recording, plays back each line keeping speed, and prints
// the rules that fire; it returns the number of lines read.
func play(ctx context.Context, in io.Reader, out io.Writer, r *daemon.Replay, speed float64) (int, error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	var first, start time.Time
	n := 0
	for sc.Scan() {
		n++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var line daemon.RecordLine
		if err := json.Unmarshal(sc.Bytes(), &line); err != nil {
			return n, fmt.Errorf("recording line %d: %w", n, err)
		}
		if speed > 0 && !line.At.IsZero() {
			if first.IsZero() {
				first, start = line.At, time.Now()
			}
			due := start.Add(time.Duration(float64(line.At.Sub(first)) / speed))
			if err := sleepUntil(ctx, due); err != nil {
				return n, err
			}
		}
		if err := ctx.Err(); err != nil {
			return n, err
		}
		fires, err := r.Play(&line)
		for _, f := range fires {
			container := f.Container
			if f.State {
				container = fmt.Sprintf("(%d containers)", f.Count)
			}
			fmt.Fprintf(out, "%s\t%s\t%s\t%s\t%s\n", f.Time.UTC().Format(time.RFC3339Nano), dash(f.Engine), dash(container), f.Event, f.Rule)
		}
		if err != nil {
			return n, fmt.Errorf("recording line %d: %w", n, err)
		}
	}
	return n, sc.Err()
}

// sleepUntil waits until t or ctx is done.
func sleepUntil(ctx context.Context, t time.Time) error {
	d := time.Until(t)
	if d <= 0 {
		return nil
	}
	tm := time.NewTimer(d)
	defer tm.Stop()
	select {
	case <-tm.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
