package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/spf13/cobra"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/reconcile"
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

// replayer plays a recording back.
type replayer struct {
	out     io.Writer
	engines *controller.ReplaySet
	events  *controller.Explainer
	states  *controller.StateExplainer
	// ctrl runs the handlers with --run; nil otherwise.
	ctrl *controller.Controller
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
	engines := controller.NewReplaySet(cfg)
	r := &replayer{out: out, engines: engines, events: controller.NewExplainer(cfg), states: controller.NewStateExplainer(cfg, engines)}
	var done chan error
	var stopCtrl context.CancelFunc
	if f.run {
		r.ctrl = controller.New(controller.Options{
			Config: cfg, Runner: reconcile.NewRunner(reconcile.Options{}), Environ: os.Environ(), Logger: log, EngineSet: engines,
		})
		var cctx context.Context
		cctx, stopCtrl = context.WithCancel(logr.NewContext(context.WithoutCancel(ctx), log))
		defer stopCtrl()
		done = make(chan error, 1)
		go func() { done <- r.ctrl.Run(cctx, f.shutdownTimeout) }()
	}
	n, err := r.play(ctx, in, f.speed)
	log.V(1).Info("Replayed", "lines", n)
	if r.ctrl != nil {
		r.waitIdle(ctx, stateSettle(cfg))
		stopCtrl()
		err = joinErr(err, <-done)
	}
	return err
}

// play reads the recording and plays back each line, keeping speed; it
// returns the number of lines read.
func (r *replayer) play(ctx context.Context, in io.Reader, speed float64) (int, error) {
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), 64<<20)
	var first, start time.Time
	n := 0
	for sc.Scan() {
		n++
		if len(sc.Bytes()) == 0 {
			continue
		}
		var line recordLine
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
		if err := r.line(&line); err != nil {
			return n, fmt.Errorf("recording line %d: %w", n, err)
		}
	}
	return n, sc.Err()
}

// line plays back one recorded line.
func (r *replayer) line(line *recordLine) error {
	now := line.At
	if r.ctrl != nil {
		now = time.Now()
	}
	switch {
	case line.Baseline != nil:
		r.engines.Engine(line.Baseline.Engine).Baseline(line.Baseline.Containers)
	case line.Event != nil:
		ev := line.Event
		now = ev.Time
		if r.ctrl != nil {
			// The handlers' state rules count outages in the real clock.
			now = time.Now()
		}
		r.engines.Engine(ev.Engine).Apply(ev, now)
		for _, m := range r.events.Explain(ev) {
			if m.Matched {
				r.print(ev.Time, ev.Engine, containerOf(ev), ev.Action, m.Rule)
			}
		}
		if r.ctrl != nil {
			r.ctrl.Handle(ev)
		}
	default:
		return fmt.Errorf("neither an event nor a baseline")
	}
	fires, err := r.states.Evaluate(now)
	for _, s := range fires {
		engine, what := "-", "state"
		if line.Event != nil {
			engine, what = line.Event.Engine, "state after "+line.Event.Action
		}
		r.print(now, engine, fmt.Sprintf("(%d containers)", s.Count), what, s.Rule)
	}
	return err
}

// print writes one line of a rule that fires.
func (r *replayer) print(t time.Time, engine, container, event, rule string) {
	fmt.Fprintf(r.out, "%s\t%s\t%s\t%s\t%s\n", t.UTC().Format(time.RFC3339Nano), engine, dash(container), event, rule)
}

// containerOf names the container of ev, or the actor of another kind.
func containerOf(ev *informer.Event) string {
	if ev.Container != nil {
		return ev.Container.Name
	}
	if n := ev.Attributes["name"]; n != "" {
		return n
	}
	return ev.ActorID
}

// waitIdle waits, with --run, until no delivery is pending, then settle
// for the state rules to evaluate the last set (or until ctx is done).
func (r *replayer) waitIdle(ctx context.Context, settle time.Duration) {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for r.ctrl.Pending() > 0 {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
	_ = sleepUntil(ctx, time.Now().Add(settle))
}

// stateSettle is how long the state rules of cfg may take to settle a set
// after the last event: a second, plus their longest debounce (or
// max_delay, when shorter).
func stateSettle(cfg *config.Config) time.Duration {
	var d time.Duration
	for _, s := range cfg.StateRules {
		w := s.Debounce
		if s.MaxDelay > 0 && s.MaxDelay < w {
			w = s.MaxDelay
		}
		d = max(d, w)
	}
	return time.Second + d
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

func joinErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}
