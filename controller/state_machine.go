package controller

import (
	"time"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/config"
)

// Why a state rule fires, for logs.
const (
	reasonStart  = "start"
	reasonChange = "change"
	reasonResync = "resync"
)

// stateMachine is what one state rule's goroutine knows between
// evaluations. It is owned by that goroutine: no locks.
//
// An evaluation takes the set the selector selects now. A set whose hash
// differs from the last evaluation's starts or extends a burst of changes;
// the burst settles once the set has been quiet for the debounce, or has
// lasted max_delay. Settling decides, by the trigger, whether the settled set
// becomes the target: the set to run the command with. A target is run until
// a run succeeds, max_attempts runs failed, or a newer settled set replaces it.
type stateMachine struct {
	rule *stateRule
	// ready is set by the first evaluation on a loaded cache.
	ready bool
	// waitLogged is set once the wait for engines to sync was logged.
	waitLogged bool
	// observed is the hash of the set at the last evaluation.
	observed string
	// burstStart and lastChange are when the current burst of changes began
	// and when the set last changed; burstStart is zero when settled.
	burstStart, lastChange time.Time
	// first is set until the first burst settles: it fires for reasonStart.
	first bool

	// okHash is the hash of the set of the last successful run; okSet says
	// whether there was one.
	okHash string
	okSet  bool
	// lastEmpty is whether the set was empty when last settled; nil before
	// the first settle (unknown).
	lastEmpty *bool

	// target is the set to run the command with, nil when there is nothing
	// to do; attempts counts its failed runs; retryAt is when it may run.
	target   *snapshot
	attempts int
	retryAt  time.Time
	// nextResync is when the command runs again though nothing changed
	// (when the rule has a resync).
	nextResync time.Time
}

// start records the first set, at now: it counts as a change from an
// unknown set, so that it settles like any change and fires for reasonStart.
func (m *stateMachine) start(now time.Time, snap *snapshot) {
	m.ready, m.first = true, true
	m.observed, m.burstStart, m.lastChange = snap.hash, now, now
	m.scheduleResync(now)
}

// observe records the set at now, and settles the burst when it is due.
func (m *stateMachine) observe(log logr.Logger, now time.Time, snap *snapshot) {
	cfg := m.rule.cfg
	if snap.hash != m.observed {
		if m.burstStart.IsZero() {
			m.burstStart = now
		}
		m.observed, m.lastChange = snap.hash, now
	}
	if m.burstStart.IsZero() {
		return
	}
	quiet := !now.Before(m.lastChange.Add(cfg.Debounce))
	capped := cfg.MaxDelay > 0 && !now.Before(m.burstStart.Add(cfg.MaxDelay))
	if !quiet && !capped {
		return
	}
	m.burstStart = time.Time{}
	reason := reasonChange
	if m.first {
		reason, m.first = reasonStart, false
	}
	m.settle(log, snap, reason)
}

// settle decides what the settled set snap means for the target.
func (m *stateMachine) settle(log logr.Logger, snap *snapshot, reason string) {
	empty := snap.count() == 0
	var hold, fire bool // the set calls for a run; it newly does
	switch m.rule.trigger {
	case config.TriggerEmpty:
		hold = empty
		fire = hold && (m.lastEmpty == nil || !*m.lastEmpty)
	case config.TriggerNonEmpty:
		hold = !empty
		fire = hold && (m.lastEmpty == nil || *m.lastEmpty)
	default:
		hold = !m.okSet || snap.hash != m.okHash
		fire = hold
	}
	m.lastEmpty = &empty
	switch {
	case m.target != nil && !hold:
		log.Info("State rule run superseded", "hash", m.target.hash, "by", snap.hash, "count", snap.count(), "attempts", m.attempts)
		m.target = nil
	case m.target != nil && m.target.hash == snap.hash:
		// The same set: its retries go on.
	case m.target != nil:
		log.Info("State rule run superseded", "hash", m.target.hash, "by", snap.hash, "count", snap.count(), "attempts", m.attempts)
		m.setTarget(log, snap, reason)
	case fire:
		m.setTarget(log, snap, reason)
	}
}

// resync makes snap the target when the rule's resync is due and the set
// still calls for a run: any set for changed, an empty one for empty, a
// non-empty one for nonempty.
func (m *stateMachine) resync(log logr.Logger, now time.Time, snap *snapshot) {
	if m.rule.cfg.Resync <= 0 || m.target != nil || !m.burstStart.IsZero() || now.Before(m.nextResync) {
		return
	}
	m.nextResync = now.Add(m.rule.cfg.Resync)
	switch m.rule.trigger {
	case config.TriggerEmpty:
		if snap.count() != 0 {
			return
		}
	case config.TriggerNonEmpty:
		if snap.count() == 0 {
			return
		}
	}
	m.setTarget(log, snap, reasonResync)
}

// setTarget makes snap the set to run, at once, with no attempt made.
func (m *stateMachine) setTarget(log logr.Logger, snap *snapshot, reason string) {
	m.target, m.attempts, m.retryAt = snap, 0, time.Time{}
	if text := m.rule.cfg.Log; text != "" {
		log.Info("State rule fired", "log", text, "reason", reason, "count", snap.count(), "hash", snap.hash)
	} else {
		log.V(1).Info("State rule fired", "reason", reason, "count", snap.count(), "hash", snap.hash)
	}
}

// due returns the target when it may run at now: not while a burst is
// settling (it may be replaced), not before its retry time.
func (m *stateMachine) due(now time.Time) *snapshot {
	if m.target == nil || !m.burstStart.IsZero() || now.Before(m.retryAt) {
		return nil
	}
	return m.target
}

// succeeded records that a run of the target succeeded at now.
func (m *stateMachine) succeeded(now time.Time) {
	m.okHash, m.okSet = m.target.hash, true
	m.target, m.attempts = nil, 0
	m.scheduleResync(now)
}

// failed records that a run of the target failed at now. It returns the
// wait before the next attempt, or giveUp when max_attempts runs failed.
func (m *stateMachine) failed(now time.Time) (wait time.Duration, giveUp bool) {
	m.attempts++
	p := m.rule.retry
	if p.exhausted(m.attempts) {
		m.target, m.attempts = nil, 0
		m.scheduleResync(now)
		return 0, true
	}
	wait = p.wait(m.attempts)
	m.retryAt = now.Add(wait)
	return wait, false
}

// scheduleResync sets the next resync one resync after now.
func (m *stateMachine) scheduleResync(now time.Time) {
	if r := m.rule.cfg.Resync; r > 0 {
		m.nextResync = now.Add(r)
	}
}

// deadline returns the earliest time after now at which an evaluation may
// do something without anything else changing, or the zero time.
func (m *stateMachine) deadline(now time.Time) time.Time {
	var next time.Time
	add := func(t time.Time) {
		if t.After(now) && (next.IsZero() || t.Before(next)) {
			next = t
		}
	}
	cfg := m.rule.cfg
	if !m.burstStart.IsZero() {
		add(m.lastChange.Add(cfg.Debounce))
		if cfg.MaxDelay > 0 {
			add(m.burstStart.Add(cfg.MaxDelay))
		}
	}
	if m.target != nil {
		add(m.retryAt)
	}
	if m.ready && cfg.Resync > 0 {
		add(m.nextResync)
	}
	return next
}
