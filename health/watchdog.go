package health

import (
	"context"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultLimit is how long a loop may stay in one piece of work before it is
// stuck, when a Loop is given none.
const DefaultLimit = 2 * time.Minute

// Watchdog watches Loops. Make it with NewWatchdog, start Run, and ask Stuck.
// It is safe for concurrent use.
type Watchdog struct {
	mu    sync.Mutex
	loops map[*Loop]*watch
	// tick is how often Run looks at the loops.
	tick time.Duration
	now  func() time.Time
}

// watch is what the Watchdog remembers of a loop between two looks.
type watch struct {
	seq uint64
	// since is when seq was last seen to change.
	since time.Time
}

// NewWatchdog returns a Watchdog that looks at its loops every tick (one
// second when zero or less): a loop is reported stuck up to tick after its
// limit.
func NewWatchdog(tick time.Duration) *Watchdog {
	if tick <= 0 {
		tick = time.Second
	}
	return &Watchdog{loops: map[*Loop]*watch{}, tick: tick, now: time.Now}
}

// Loop is one loop watched by a Watchdog. Its Begin and End are cheap and
// safe to call from one goroutine at a time (the loop's).
type Loop struct {
	name string
	// seq counts Begins and Ends: odd while the loop is in a piece of work.
	seq atomic.Uint64
	// limit is the limit of the current piece of work, in nanoseconds.
	limit atomic.Int64
	def   time.Duration
}

// Loop registers a loop named name (named in /healthz when stuck) whose
// pieces of work may take up to limit (DefaultLimit when zero or less),
// unless Begin says otherwise. Remove it when the loop ends.
func (w *Watchdog) Loop(name string, limit time.Duration) *Loop {
	if limit <= 0 {
		limit = DefaultLimit
	}
	l := &Loop{name: name, def: limit}
	l.limit.Store(int64(limit))
	if w == nil {
		return l
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	w.loops[l] = &watch{since: w.now()}
	return l
}

// Remove stops watching l.
func (w *Watchdog) Remove(l *Loop) {
	if w == nil || l == nil {
		return
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	delete(w.loops, l)
}

// Name returns the loop's name.
func (l *Loop) Name() string { return l.name }

// Begin marks the start of a piece of work with the loop's own limit.
func (l *Loop) Begin() { l.seq.Add(1) }

// BeginFor marks the start of a piece of work that may take up to limit
// (the loop's own limit when zero or less): a handler with a long timeout.
func (l *Loop) BeginFor(limit time.Duration) {
	if limit <= 0 {
		limit = l.def
	}
	l.limit.Store(int64(limit))
	l.seq.Add(1)
}

// End marks the end of the piece of work Begin started.
func (l *Loop) End() { l.seq.Add(1) }

// Run looks at the loops every tick until ctx is done.
func (w *Watchdog) Run(ctx context.Context) {
	t := time.NewTicker(w.tick)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			w.look()
		}
	}
}

// look notes which loops moved since the last look.
func (w *Watchdog) look() {
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	for l, s := range w.loops {
		if seq := l.seq.Load(); seq != s.seq {
			s.seq, s.since = seq, now
		}
	}
}

// Stuck returns the names of the loops that stayed in one piece of work past
// its limit, sorted; none when every loop makes progress.
func (w *Watchdog) Stuck() []string {
	w.look()
	w.mu.Lock()
	defer w.mu.Unlock()
	now := w.now()
	var out []string
	for l, s := range w.loops {
		if s.seq%2 == 1 && now.Sub(s.since) > time.Duration(l.limit.Load()) {
			out = append(out, l.name)
		}
	}
	slices.Sort(out)
	return out
}
