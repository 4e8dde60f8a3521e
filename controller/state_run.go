package controller

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime/debug"
	"slices"
	"strconv"
	"time"

	"github.com/go-logr/logr"
	"k8s.io/utils/clock"

	"github.com/samalba/docker-eventsd/reconcile"
)

// runStateRule is the goroutine of one state rule: it evaluates the rule
// when Handle marks it, at each tick, and when a deadline of its own (the end
// of a debounce, a retry, a resync, an engine's grace) comes, and runs the
// command. Runs are made here, one at a time, so they never overlap. It
// returns when ctx is done, after the run in progress if any, which gets
// runCtx.
func (c *Controller) runStateRule(ctx, runCtx context.Context, s *stateRule) {
	log := logr.FromContextOrDiscard(runCtx).WithValues("rule", s.name)
	m := &stateMachine{rule: s}
	c.resumeState(m)
	ticker := c.clock.NewTicker(stateTick)
	defer ticker.Stop()
	var timer clock.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	for {
		if ctx.Err() != nil {
			if m.target != nil {
				log.Info("State rule stopped with a run pending", "hash", m.target.hash, "count", m.target.count(), "attempts", m.attempts)
			}
			return
		}
		marks := s.marks.Load()
		now := c.clock.Now()
		if snap := c.evaluateState(log, m, now); snap != nil && !c.stopping.Load() {
			if c.gateOpen() {
				c.runStateTarget(runCtx, log, m, snap)
				continue
			}
			// A standby: the run waits until this replica leads.
			s.progress.report(marks, now)
			select {
			case <-ctx.Done():
			case <-c.gateChanged():
			case <-c.clock.After(time.Second):
			}
			continue
		}
		s.progress.report(marks, now)

		if timer != nil {
			timer.Stop()
			timer = nil
		}
		var timerC <-chan time.Time
		if next := earliest(m.deadline(now), c.state.graceDeadline(now, &s.sel)); !next.IsZero() {
			timer = c.clock.NewTimer(next.Sub(now))
			timerC = timer.C()
		}
		select {
		case <-ctx.Done():
		case <-s.dirty:
		case <-ticker.C():
		case <-timerC:
		}
	}
}

// btoi returns 1 for true, 0 for false.
func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// earliest returns the earlier of two times, the zero time meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || !b.IsZero() && b.Before(a) {
		return b
	}
	return a
}

// evaluateState evaluates the rule of m at now, and returns the set to run
// the command with now, or nil. Until every engine the rule may select has
// synced (or has been down for longer than the grace), it does nothing: a
// half-loaded cache would look like containers gone.
func (c *Controller) evaluateState(log logr.Logger, m *stateMachine, now time.Time) *snapshot {
	s := m.rule
	if !m.ready {
		if ok, waiting := c.state.ready(now, &s.sel); !ok {
			if !m.waitLogged {
				m.waitLogged = true
				log.Info("State rule waiting for engines to sync", "engines", waiting, "grace", s.sel.grace)
			}
			return nil
		}
	}
	snap, err := c.state.snapshot(now, &s.sel)
	if err != nil {
		log.Error(err, "State rule evaluation failed")
		return nil
	}
	if !m.ready {
		m.start(now, snap)
		// Info when the wait was logged at info, so that its end shows too.
		log.V(btoi(!m.waitLogged)).Info("State rule ready", "count", snap.count(), "hash", snap.hash)
	}
	m.observe(log, now, snap)
	m.resync(log, now, snap)
	return m.due(now)
}

// runStateTarget runs the command with snap, the target of m, once, and
// records the outcome in m.
func (c *Controller) runStateTarget(ctx context.Context, log logr.Logger, m *stateMachine, snap *snapshot) {
	s := m.rule
	if s.cfg.Command == "" {
		m.succeeded(c.clock.Now())
		return
	}
	attempt := m.attempts + 1
	kv := []any{"count", snap.count(), "hash", snap.hash, "attempt", attempt}
	log.V(1).Info("Running state rule", kv...)
	res, err := c.runStateOnce(ctx, log, s, snap, attempt)
	now := c.clock.Now()
	kv = append(kv, "duration", res.Duration)
	switch {
	case err == nil:
		m.succeeded(now)
		c.journalState(m, snap.hash)
		log.Info("State rule ran", append(kv, outputKV(res)...)...)
	case ctx.Err() != nil:
		// Stopped by the shutdown timeout: not the handler's failure.
		log.Error(err, "State rule stopped by shutdown", append(kv, outputKV(res)...)...)
	case c.stopping.Load():
		log.Error(err, "State rule failed", append(kv, append([]any{"exitCode", res.ExitCode,
			"timedOut", res.TimedOut, "willRetry", false}, outputKV(res)...)...)...)
	default:
		wait, giveUp := m.failed(now)
		if giveUp {
			log.Error(err, "State rule failed, giving up", append(kv, append([]any{"exitCode", res.ExitCode,
				"timedOut", res.TimedOut}, outputKV(res)...)...)...)
			return
		}
		log.Error(err, "State rule failed", append(kv, append([]any{"exitCode", res.ExitCode,
			"timedOut", res.TimedOut, "willRetry", true, "after", wait}, outputKV(res)...)...)...)
	}
}

// runStateOnce makes one run of the command of s with snap: the set as JSON
// on stdin and in a temporary file named by EVENTSD_STATE_FILE, removed
// after the run. A panic on the way is recovered into an error, a failed run.
func (c *Controller) runStateOnce(ctx context.Context, log logr.Logger, s *stateRule, snap *snapshot, attempt int) (res reconcile.Result, err error) {
	c.running.Add(1)
	defer c.running.Add(-1)
	defer func() {
		if p := recover(); p != nil {
			res, err = reconcile.Result{ExitCode: -1}, fmt.Errorf("panic: %v [recovered]", p)
			log.Error(err, "Observed a panic in a state rule run", "stack", string(debug.Stack()))
		}
	}()
	stdin := append(slices.Clip(snap.json), '\n')
	path, err := writeStateFile(stdin)
	if err != nil {
		return reconcile.Result{ExitCode: -1}, err
	}
	defer func() {
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			log.Error(err, "Removing the state file failed", "file", path)
		}
	}()
	gateEnv, ok := c.gateEnv()
	if !ok {
		return reconcile.Result{ExitCode: -1}, errNotLeader
	}
	return c.runner.Run(ctx, reconcile.Command{
		Script:  s.cfg.Command,
		Env:     append(stateEnv(s.env, s.name, snap, path, attempt), gateEnv...),
		Stdin:   stdin,
		Timeout: s.timeout,
		Grace:   c.grace,
	})
}

// writeStateFile writes data to a new temporary file, readable by its owner
// only, and returns its name.
func writeStateFile(data []byte) (string, error) {
	f, err := os.CreateTemp("", "eventsd-state-*.json")
	if err != nil {
		return "", fmt.Errorf("create state file: %w", err)
	}
	_, werr := f.Write(data)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(f.Name())
		return "", fmt.Errorf("write state file: %w", err)
	}
	return f.Name(), nil
}

// stateEnv returns base followed by the variables of one run of a state
// rule.
func stateEnv(base []string, rule string, snap *snapshot, file string, attempt int) []string {
	env := make([]string, 0, len(base)+5)
	env = append(env, base...)
	return append(env,
		envRule+"="+rule,
		envStateCount+"="+strconv.Itoa(snap.count()),
		envStateHash+"="+snap.hash,
		envStateAttempt+"="+strconv.Itoa(attempt),
		envStateFile+"="+file,
	)
}
