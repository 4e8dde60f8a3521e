package daemon

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/reconcile"
)

// ReplayOptions configures a Replay.
type ReplayOptions struct {
	// Config holds the rules; required.
	Config *config.Config
	// Run runs the handlers for real, as the daemon runs them; otherwise
	// nothing runs.
	Run bool
	// Environ is the handlers' environment (with Run).
	Environ []string
	// Logger logs what the handlers do (with Run); zero discards.
	Logger logr.Logger
	// ShutdownTimeout is how long running handlers may finish in Wait.
	ShutdownTimeout time.Duration
	// Runner runs the handlers (with Run; a new reconcile.Runner when nil).
	Runner *reconcile.Runner
}

// Fire is a rule that fires at one line of a replay.
type Fire struct {
	// Time is the event's time (for a state rule, that of the line that
	// changed its set).
	Time time.Time
	// Engine is the event's engine, or the engine whose first list fired a
	// state rule.
	Engine string
	// Container is the event's container (or actor) name; "" for a state
	// rule, whose set has Count containers.
	Container string
	// Event is the event's action ("die", "engine_down").
	Event string
	Rule  string
	// State is set for a state rule.
	State bool
	Count int
}

// Replay plays a recording back (`docker-eventsd replay`): each line's event
// goes through the controller's matching, its container into the replayed
// cache, over which the state rules are evaluated. It says which rules fire;
// with Run, a controller runs their handlers for real over the same cache.
type Replay struct {
	run     bool
	cfg     *config.Config
	engines *controller.ReplaySet
	events  *controller.Explainer
	states  *controller.StateExplainer
	ctrl    *controller.Controller
	stop    context.CancelFunc
	done    chan error
}

// NewReplay returns a replay of opts; with Run, its controller runs (until
// Wait) with the logger of ctx or opts.Logger.
func NewReplay(ctx context.Context, opts ReplayOptions) (*Replay, error) {
	if opts.Config == nil {
		return nil, errors.New("daemon: ReplayOptions.Config is required")
	}
	engines := controller.NewReplaySet(opts.Config)
	r := &Replay{run: opts.Run, cfg: opts.Config, engines: engines, events: controller.NewExplainer(opts.Config),
		states: controller.NewStateExplainer(opts.Config, engines)}
	if !opts.Run {
		return r, nil
	}
	log := opts.Logger
	if l, err := logr.FromContext(ctx); err == nil {
		log = l
	}
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	runner := opts.Runner
	if runner == nil {
		runner = reconcile.NewRunner(reconcile.Options{})
	}
	r.ctrl = controller.New(controller.Options{Config: opts.Config, Runner: runner, Environ: opts.Environ, Logger: log, EngineSet: engines})
	var cctx context.Context
	cctx, r.stop = context.WithCancel(logr.NewContext(context.WithoutCancel(ctx), log))
	r.done = make(chan error, 1)
	timeout := opts.ShutdownTimeout
	go func() { r.done <- r.ctrl.Run(cctx, timeout) }()
	return r, nil
}

// Play plays back one line and returns the rules that fire, in order:
// the event rules that match its event, then the state rules whose trigger
// the changed cache fires (their set settling at once, every run counted as
// a success). With Run, the event is also handed to the controller.
func (r *Replay) Play(line *RecordLine) ([]Fire, error) {
	// Outages count in the real clock when handlers run: the controller's
	// state rules read DownSince against it.
	now := line.At
	var out []Fire
	switch {
	case line.Baseline != nil:
		r.engines.Engine(line.Baseline.Engine).Baseline(line.Baseline.Containers)
	case line.Event != nil:
		ev := line.Event
		now = ev.Time
		at := ev.Time
		if r.run {
			at = time.Now()
		}
		r.engines.Engine(ev.Engine).Apply(ev, at)
		for _, m := range r.events.Explain(ev) {
			if m.Matched {
				out = append(out, Fire{Time: ev.Time, Engine: ev.Engine, Container: actorName(ev), Event: ev.Action, Rule: m.Rule})
			}
		}
		if r.ctrl != nil {
			r.ctrl.Handle(ev)
		}
	default:
		return nil, errors.New("neither an event nor a baseline")
	}
	evalAt := now
	if r.run {
		evalAt = time.Now()
	}
	fires, err := r.states.Evaluate(evalAt)
	for _, s := range fires {
		f := Fire{Time: now, Rule: s.Rule, State: true, Count: s.Count, Event: "state"}
		if line.Baseline != nil {
			f.Engine = line.Baseline.Engine
		}
		if line.Event != nil {
			f.Engine, f.Event = line.Event.Engine, "state after "+line.Event.Action
		}
		out = append(out, f)
	}
	if err != nil {
		return out, fmt.Errorf("state rules: %w", err)
	}
	return out, nil
}

// Wait, with Run, waits until no delivery is pending, then for the state
// rules to settle the last set (a second plus their longest debounce, or
// max_delay when shorter), then stops the controller (its running handlers
// get ShutdownTimeout). Without Run it returns at once.
func (r *Replay) Wait(ctx context.Context) error {
	if r.ctrl == nil {
		return nil
	}
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	settled := time.Time{}
	for settled.IsZero() || time.Now().Before(settled) {
		if r.ctrl.Pending() > 0 {
			settled = time.Time{}
		} else if settled.IsZero() {
			settled = time.Now().Add(stateSettle(r.cfg))
		}
		select {
		case <-ctx.Done():
			settled = time.Now()
		case <-t.C:
		}
	}
	r.stop()
	return <-r.done
}

// stateSettle is how long the state rules of cfg may take to settle a set
// after the last event.
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

// actorName names the container of ev, or the actor of another kind.
func actorName(ev *informer.Event) string {
	if ev.Container != nil {
		return ev.Container.Name
	}
	if n := ev.Attributes["name"]; n != "" {
		return n
	}
	return ev.ActorID
}
