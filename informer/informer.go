package informer

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cenkalti/backoff/v5"
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
	// callTimeout bounds a ContainerList or ContainerInspect call.
	callTimeout = 30 * time.Second
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
	// Heartbeat is the interval between pings (DefaultHeartbeat when 0).
	Heartbeat time.Duration
	// HeartbeatTimeout bounds each ping (DefaultHeartbeatTimeout when 0).
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
	// firstSeen is the TimeNano of the first event ever received: a replay never
	// starts before it, since older events predate the first subscription and are
	// covered by the first list.
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
	bo := &backoff.ExponentialBackOff{
		InitialInterval:     inf.opts.MinBackoff,
		RandomizationFactor: 0.5,
		Multiplier:          2,
		MaxInterval:         inf.opts.MaxBackoff,
	}
	bo.Reset()
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
		wait := bo.NextBackOff()
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

	// The heartbeat runs before subscribing: an engine that accepts and never answers
	// would otherwise hold Events forever.
	wg.Add(1)
	go func() {
		defer wg.Done()
		inf.heartbeat(sctx, cancel)
	}()

	opts := client.EventsListOptions{Filters: inf.filters()}
	if inf.lastSeen != 0 {
		opts.Since = formatSince(max(inf.lastSeen-int64(replayMargin), inf.firstSeen))
	}
	stream := inf.opts.Client.Events(sctx, opts)
	buf := newBuffer()
	wg.Add(1)
	go func() {
		defer wg.Done()
		read(sctx, stream, buf)
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

	batch := make([]events.Message, 0, 64)
	for {
		batch, err = buf.take(sctx, batch)
		for i := range batch {
			inf.apply(sctx, &batch[i], nil)
		}
		if err != nil {
			if cause := context.Cause(sctx); cause != nil {
				return cause
			}
			return fmt.Errorf("event stream: %w", err)
		}
	}
}

// heartbeat pings the engine every interval and cancels the session when a ping fails.
func (inf *Informer) heartbeat(ctx context.Context, cancel context.CancelCauseFunc) {
	t := time.NewTicker(inf.opts.Heartbeat)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		pctx, pcancel := context.WithTimeout(ctx, inf.opts.HeartbeatTimeout)
		_, err := inf.opts.Client.Ping(pctx, client.PingOptions{})
		pcancel()
		if err != nil && ctx.Err() == nil {
			cancel(fmt.Errorf("%w: %w", errHeartbeat, err))
			return
		}
	}
}

// read moves messages from the stream to buf, and never waits for anything else.
func read(ctx context.Context, stream client.EventsResult, buf *buffer) {
	for {
		select {
		case m := <-stream.Messages:
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
