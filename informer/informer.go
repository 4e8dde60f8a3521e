package informer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// Defaults for Options.
const (
	DefaultHeartbeat        = 5 * time.Second
	DefaultHeartbeatTimeout = 2 * time.Second
	DefaultMinBackoff       = 500 * time.Millisecond
	DefaultMaxBackoff       = 30 * time.Second
	// healthyReset is how long a session must last for the reconnect backoff to
	// start again from MinBackoff.
	healthyReset = 30 * time.Second
	// replayMargin is how far before the last event seen a reconnect asks the engine
	// to replay from: events are stamped before a lock and published after it, so one
	// stamped a little earlier than the last seen may not have been delivered yet.
	replayMargin = 100 * time.Millisecond
	// callTimeout bounds a ContainerList, ContainerInspect or Info call.
	callTimeout = 30 * time.Second
	// pingsPerHeartbeat is the most pings the heartbeat sends per Heartbeat, on
	// an engine that answers at once and streams nothing: it bounds how often
	// it pings when HeartbeatTimeout is close to (or above) Heartbeat.
	pingsPerHeartbeat = 5
	// replayPointDelay is how long a session must have been in sync before the
	// engine time read after its list becomes the point the next session replays
	// from (when no event was seen): by then, what the engine replayed to this
	// session has arrived and been handed on, and any event stamped before that
	// time that this session did not get was published before it subscribed.
	replayPointDelay = time.Second
)

// Options configure an Informer.
type Options struct {
	// Name is the engine's name in the config.
	Name string
	// URL is the engine's address, for logs.
	URL string
	// Client talks to the engine.
	Client Client
	// Handler receives every event, in order.
	Handler Handler
	// Heartbeat is the longest the engine may go without a sign of life (an
	// answered ping, or an event on the stream) before the session is ended as
	// an outage (DefaultHeartbeat when 0). The heartbeat pings the engine once
	// it has been quiet for Heartbeat - HeartbeatTimeout, so that a ping that
	// times out does so by Heartbeat; but never more often than
	// pingsPerHeartbeat times per Heartbeat: when HeartbeatTimeout is above
	// 4/5 of Heartbeat, an outage is declared up to Heartbeat/5 +
	// HeartbeatTimeout after the last sign of life.
	Heartbeat time.Duration
	// HeartbeatTimeout bounds each ping (DefaultHeartbeatTimeout when 0): a
	// slower answer is a failed ping. Keep it below Heartbeat.
	HeartbeatTimeout time.Duration
	// MinBackoff and MaxBackoff bound the jittered exponential wait between reconnects.
	MinBackoff, MaxBackoff time.Duration
	// Actions, when not nil, asks the engine to stream only these container actions
	// (StateActions are always added, since the cache needs them). Nil streams all.
	Actions []string
	// Checkpoints makes the informer keep what Checkpoint returns (see checkpoint.go).
	Checkpoints bool
	// Resume, when not nil, is a checkpoint of an earlier run of the daemon: the
	// cache starts with its containers, the first session replays from its
	// LastSeen, and the first list is diffed against it, so that what happened
	// while the daemon was not running is synthesized. It implies Checkpoints.
	Resume *Checkpoint
}

// Informer follows one engine. Create it with New and start it with Run.
type Informer struct {
	opts  Options
	cache *Cache
	dedup *dedup

	// lastSeen is the TimeNano of the newest event handed on; a reconnect replays from it.
	lastSeen int64
	// anchor is the key of that newest event. When a replay brings it back, the
	// engine's ring still held it, and so every event after it: the replay closed
	// the gap, and the relist need not inspect anything (anchorReplayed).
	anchor         eventKey
	anchorReplayed bool
	// replayPoint is an engine time (UnixNano) up to which every event was handed
	// on or was in a first list: the engine's time read before the first
	// subscription (see watchFrom), then the one read after a list once its
	// session had been in sync for replayPointDelay. A session replays from it
	// when no event was ever seen (lastSeen is 0). 0: unknown.
	replayPoint int64
	// listedAt is the engine's time just after the current session's list, 0 when
	// the engine cannot tell it (see EngineClock).
	listedAt int64
	// clockWarned is set once the lack of an engine clock was logged.
	clockWarned bool
	// firstSeen is the replay floor: the engine time from which every event
	// reached the informer, older ones being covered by the first list. It is
	// the since of the first subscription that had one (the engine's time read
	// before it, or a resumed replay point), else, when the engine cannot tell
	// its time, the TimeNano of the first event received. A replay never starts
	// before it: an older event would be handed on over a list that shows it.
	firstSeen int64
	// synced is true once a first list was loaded: later lists are diffed against the
	// cache to synthesize what was missed.
	synced atomic.Bool
	// seeded is true when the cache was loaded from Options.Resume: the first list
	// is diffed against it too.
	seeded bool
	// durable is what Checkpoint returns, nil unless Options.Checkpoints.
	durable *durable
	// down is true during an outage, between engine_down and engine_up.
	down bool
	// up reports the engine's health to readers (Up).
	up atomic.Bool
	// downSince is the UnixNano of the engine_down of the current outage, 0 when none.
	downSince atomic.Int64

	// lookup holds the containers of the list being applied, so that an event about a
	// container not cached yet need not inspect it.
	lookup map[string]*Container

	// sessions counts connections made, for tests and metrics.
	sessions atomic.Int64
	// syncedCh is closed after the first list is loaded.
	syncedCh chan struct{}
}

// New returns an Informer; it does nothing until Run.
func New(opts Options) *Informer {
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = DefaultHeartbeat
	}
	if opts.HeartbeatTimeout <= 0 {
		opts.HeartbeatTimeout = DefaultHeartbeatTimeout
	}
	if opts.MinBackoff <= 0 {
		opts.MinBackoff = DefaultMinBackoff
	}
	if opts.MaxBackoff <= 0 {
		opts.MaxBackoff = DefaultMaxBackoff
	}
	if opts.MaxBackoff < opts.MinBackoff {
		opts.MaxBackoff = opts.MinBackoff
	}
	inf := &Informer{
		opts:     opts,
		cache:    NewCache(),
		dedup:    newDedup(),
		syncedCh: make(chan struct{}),
	}
	if opts.Checkpoints || opts.Resume != nil {
		inf.durable = &durable{containers: map[string]*Container{}}
		inf.opts.Handler = durableHandler{next: opts.Handler, d: inf.durable}
	}
	if opts.Resume != nil {
		inf.resume(opts.Resume)
	}
	return inf
}

// Name returns the engine's name.
func (inf *Informer) Name() string { return inf.opts.Name }

// Cache returns the engine's container cache.
func (inf *Informer) Cache() *Cache { return inf.cache }

// HasSynced reports whether a first list of the engine was loaded.
func (inf *Informer) HasSynced() bool { return inf.synced.Load() }

// Synced is closed when a first list of the engine was loaded.
func (inf *Informer) Synced() <-chan struct{} { return inf.syncedCh }

// Up reports whether the informer is connected to the engine and in sync.
func (inf *Informer) Up() bool { return inf.up.Load() }

// DownSince returns when the current outage began (its engine_down), or the zero
// time when the engine is not known to be down.
func (inf *Informer) DownSince() time.Time {
	if n := inf.downSince.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Sessions returns how many times the informer connected to the engine.
func (inf *Informer) Sessions() int64 { return inf.sessions.Load() }

// errHeartbeat marks a session ended by a failed ping.
var errHeartbeat = errors.New("heartbeat failed")

// Run follows the engine until ctx is cancelled. It never returns early: an
// unreachable engine is retried with backoff.
func (inf *Informer) Run(ctx context.Context) {
	log := logr.FromContextOrDiscard(ctx).WithValues("engine", inf.opts.Name, "url", inf.opts.URL)
	ctx = logr.NewContext(ctx, log)
	bo := newReconnectBackoff(inf.opts.MinBackoff, inf.opts.MaxBackoff)
	for {
		start := time.Now()
		err := inf.session(ctx)
		inf.up.Store(false)
		if ctx.Err() != nil {
			return
		}
		if time.Since(start) > healthyReset {
			bo.Reset()
		}
		outage := errors.Is(err, errHeartbeat) || !inf.alive(ctx)
		if outage {
			log.Error(err, "Engine unreachable")
			inf.markDown(ctx)
		} else {
			log.Info("Event stream ended, reconnecting", "reason", err.Error())
		}
		wait := bo.Next()
		log.V(1).Info("Waiting before reconnecting", "after", wait)
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// alive pings the engine once: a stream that ended on a healthy engine (a proxy that
// cuts long responses) is not an outage.
func (inf *Informer) alive(ctx context.Context) bool {
	pctx, cancel := context.WithTimeout(ctx, inf.opts.HeartbeatTimeout)
	defer cancel()
	_, err := inf.opts.Client.Ping(pctx, client.PingOptions{})
	return err == nil
}

// markDown emits engine_down once per outage.
func (inf *Informer) markDown(ctx context.Context) {
	if inf.down {
		return
	}
	inf.down = true
	inf.downSince.Store(time.Now().UnixNano())
	inf.emitEngine(ctx, ActionEngineDown)
}

func (inf *Informer) emitEngine(ctx context.Context, action string) {
	now := time.Now()
	logr.FromContextOrDiscard(ctx).Info("Engine state changed", "action", action)
	inf.opts.Handler.Handle(&Event{
		ID:        MakeID(inf.opts.Name, now.UnixNano(), "", action, true),
		Engine:    inf.opts.Name,
		Type:      TypeEngine,
		Action:    action,
		Time:      now,
		Synthetic: true,
	})
}

// session connects once: ping, subscribe, list, then apply events until the stream
// or the heartbeat fails. It returns why it ended.
func (inf *Informer) session(ctx context.Context) error {
	log := logr.FromContextOrDiscard(ctx)
	sctx, cancel := context.WithCancelCause(ctx)
	var wg sync.WaitGroup
	defer func() {
		cancel(nil)
		wg.Wait()
	}()
	inf.sessions.Add(1)

	pctx, pcancel := context.WithTimeout(sctx, inf.opts.HeartbeatTimeout)
	_, err := inf.opts.Client.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true})
	pcancel()
	if err != nil {
		return fmt.Errorf("%w: %w", errHeartbeat, err)
	}
	life := newLiveness()

	// The heartbeat runs before subscribing: an engine that accepts and never answers
	// would otherwise hold Events forever.
	wg.Add(1)
	go func() {
		defer wg.Done()
		inf.heartbeat(sctx, cancel, life)
	}()

	// Without a point to replay from (the engine's first session, nothing
	// seen, no checkpoint), the subscription starts from the engine's time read
	// now: dockerd answers GET /events before it subscribes, and the list is
	// sent as soon as the answer comes, so without since an event that happens
	// after the list was answered and before the subscription exists would be
	// in neither.
	opts := client.EventsListOptions{Filters: inf.filters(), Since: inf.since()}
	clockAfterList := true
	if opts.Since == "" {
		from := inf.watchFrom(sctx)
		if err := context.Cause(sctx); err != nil {
			return err
		}
		if from != 0 {
			opts.Since = formatSince(from)
		}
		// An engine that could not tell its time now is not asked again
		// after the list: one /info per session.
		clockAfterList = from != 0
	}
	if inf.lastSeen == 0 && inf.replayPoint != 0 {
		// Every event from the replay point on reaches this session: it is
		// the replay floor, unless an earlier subscription set one.
		inf.setFirstSeen(inf.replayPoint)
	}
	inf.anchorReplayed = false
	stream := inf.opts.Client.Events(sctx, opts)
	buf := newBuffer()
	wg.Add(1)
	go func() {
		defer wg.Done()
		read(sctx, stream, buf, life)
	}()

	lctx, lcancel := context.WithTimeout(sctx, callTimeout)
	release := acquireList(lctx)
	list, err := inf.opts.Client.ContainerList(lctx, client.ContainerListOptions{All: true})
	release()
	lcancel()
	if err != nil {
		if cause := context.Cause(sctx); cause != nil {
			return cause
		}
		return fmt.Errorf("list containers: %w", err)
	}
	// The engine's time just after the list: the list's containers are known up
	// to it (their ledger), and, once this session has been in sync for a moment,
	// the next one may replay from it.
	inf.listedAt = 0
	if clockAfterList {
		inf.listedAt = inf.readEngineClock(sctx)
	}
	if err := context.Cause(sctx); err != nil {
		return err
	}
	log.V(1).Info("Listed containers", "count", len(list.Items), "replayFrom", opts.Since)

	if err := inf.resync(sctx, list.Items, buf); err != nil {
		return err
	}
	inf.up.Store(true)
	if inf.down {
		inf.down = false
		inf.downSince.Store(0)
		inf.emitEngine(ctx, ActionEngineUp)
	}
	log.Info("Engine in sync", "containers", inf.cache.Len())

	var replayPointDue <-chan time.Time
	if inf.listedAt != 0 {
		t := time.NewTimer(replayPointDelay)
		defer t.Stop()
		replayPointDue = t.C
	}
	batch := make([]events.Message, 0, 64)
	for {
		var due bool
		batch, due, err = buf.takeOr(sctx, batch, replayPointDue)
		for i := range batch {
			inf.apply(sctx, &batch[i], nil)
		}
		if due {
			replayPointDue = nil
			// What arrived meanwhile is handed on first: the replay point
			// (and a checkpoint's) must never be ahead of what was handled.
			batch = buf.drain(batch)
			for i := range batch {
				inf.apply(sctx, &batch[i], nil)
			}
			inf.setReplayPoint(inf.listedAt)
		}
		if err != nil {
			if cause := context.Cause(sctx); cause != nil {
				return cause
			}
			return fmt.Errorf("event stream: %w", err)
		}
	}
}

// since returns where a session asks the engine to replay from: just before the
// newest event handed on, or, when none was ever seen, the replay point; "" when
// there is none yet (see watchFrom).
func (inf *Informer) since() string {
	switch {
	case inf.lastSeen != 0:
		return formatSince(max(inf.lastSeen-int64(replayMargin), inf.firstSeen))
	case inf.replayPoint != 0:
		// No margin: every event this session did not get was stamped after
		// it (see replayPointDelay), and an earlier one would be replayed
		// onto a list that already shows it.
		return formatSince(inf.replayPoint)
	}
	return ""
}

// setFirstSeen records t as the replay floor (see firstSeen) when there is none
// yet, in the checkpoint too.
func (inf *Informer) setFirstSeen(t int64) {
	if inf.firstSeen != 0 {
		return
	}
	inf.firstSeen = t
	if inf.durable != nil {
		inf.durable.setFirstSeen(t)
	}
}

// setReplayPoint records t (an engine time) as the point a later session replays
// from when no event was seen, in the checkpoint too.
func (inf *Informer) setReplayPoint(t int64) {
	if t <= inf.replayPoint {
		return
	}
	inf.replayPoint = t
	if inf.durable != nil {
		inf.durable.setReplayPoint(t)
	}
}

// pingPeriod is how long the engine may be quiet before the heartbeat pings it:
// Heartbeat - HeartbeatTimeout, so that a ping that times out ends by Heartbeat
// after the last sign of life; at least Heartbeat/pingsPerHeartbeat.
func (inf *Informer) pingPeriod() time.Duration {
	return max(inf.opts.Heartbeat-inf.opts.HeartbeatTimeout, inf.opts.Heartbeat/pingsPerHeartbeat)
}

// heartbeat ends the session (cancel, with errHeartbeat) when the engine gave no
// sign of life for Heartbeat: it pings the engine whenever it has been quiet for
// pingPeriod, and a ping that fails, or does not answer within HeartbeatTimeout,
// ends the session, unless an event came meanwhile. Every event the stream
// delivers is a sign of life (read marks it): a busy engine is not pinged at all.
func (inf *Informer) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, life *liveness) {
	period := inf.pingPeriod()
	t := time.NewTimer(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if quiet := life.quiet(); quiet < period {
			t.Reset(period - quiet)
			continue
		}
		sent := life.now()
		pctx, pcancel := context.WithTimeout(ctx, inf.opts.HeartbeatTimeout)
		_, err := inf.opts.Client.Ping(pctx, client.PingOptions{})
		pcancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil && life.last() <= sent {
			cancel(fmt.Errorf("%w: %w", errHeartbeat, err))
			return
		}
		if err == nil {
			life.mark()
		}
		t.Reset(max(period-life.quiet(), 0))
	}
}

// liveness is when the engine last gave a sign of life, on the monotonic clock.
// The reader goroutine marks every event; the heartbeat every answered ping.
type liveness struct {
	base time.Time
	at   atomic.Int64 // since base
}

func newLiveness() *liveness {
	return &liveness{base: time.Now()}
}

// now returns the time since base.
func (l *liveness) now() time.Duration { return time.Since(l.base) }

// mark records a sign of life now.
func (l *liveness) mark() { l.at.Store(int64(l.now())) }

// last returns when the last sign of life came (since base).
func (l *liveness) last() time.Duration { return time.Duration(l.at.Load()) }

// quiet returns how long ago the last sign of life came.
func (l *liveness) quiet() time.Duration { return l.now() - l.last() }

// read moves messages from the stream to buf, and never waits for anything else.
// Each message is a sign of life of the engine.
func read(ctx context.Context, stream client.EventsResult, buf *buffer, life *liveness) {
	for {
		select {
		case m := <-stream.Messages:
			life.mark()
			buf.push(m)
		case err := <-stream.Err:
			buf.close(err)
			return
		case <-ctx.Done():
			buf.close(context.Cause(ctx))
			return
		}
	}
}

// formatSince renders a TimeNano as the seconds.nanoseconds Docker's since expects.
func formatSince(nano int64) string {
	if nano < 0 {
		nano = 0
	}
	s := strconv.FormatInt(nano/int64(time.Second), 10)
	ns := strconv.FormatInt(nano%int64(time.Second), 10)
	for len(ns) < 9 {
		ns = "0" + ns
	}
	return s + "." + ns
}
