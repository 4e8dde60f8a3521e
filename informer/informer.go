package informer

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
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
	// Objects are the kinds of events other than container to stream too
	// (image, network, ...), each with the actions wanted (nil: all). Nil
	// or empty streams containers only.
	Objects map[string][]string
	// Checkpoints makes the informer keep what Checkpoint returns (see checkpoint.go).
	Checkpoints bool
	// Resume, when not nil, is a checkpoint of an earlier run of the daemon: the
	// cache starts with its containers, the first session replays from its
	// LastSeen, and the first list is diffed against it, so that what happened
	// while the daemon was not running is synthesized. It implies Checkpoints.
	Resume *Checkpoint
}

// Informer follows one engine. Create it with New and start it with Run.
//
// Its parts, along client-go's seams, each in a file of its own:
//   - the session (session.go, heartbeat.go): one connection, from its ping to
//     the end of its stream, with the reader and heartbeat goroutines;
//   - the replay cursor (cursor.go, dedup.go): where the next session picks
//     the stream up, and which replayed events were handed on already;
//   - the cache (cache.go): the containers as last seen, for any reader;
//   - the run ledger (ledger.go): what is known of each container's runs, so
//     that a relist finds the runs nobody saw;
//   - the durable state (checkpoint.go): the cursor and the containers as the
//     handled events left them, for a Checkpoint.
//
// sync.go applies lists and events to the cache through them.
type Informer struct {
	opts Options

	// cache holds the containers; only the session's goroutine writes it.
	cache *Cache
	// cursor is where the next session picks the stream up.
	cursor cursor
	// durable is what Checkpoint returns, nil unless Options.Checkpoints.
	durable *durable

	// listedAt is the engine's time just after the current session's list, 0 when
	// the engine cannot tell it (see EngineClock): the ledger's mark of the
	// listed containers, and the next replay point.
	listedAt int64
	// clockWarned is set once the lack of an engine clock was logged.
	clockWarned bool
	// lookup holds the containers of the list being applied, so that an event about a
	// container not cached yet need not inspect it.
	lookup map[string]*Container

	// synced is true once a first list was loaded: later lists are diffed against the
	// cache to synthesize what was missed.
	synced atomic.Bool
	// syncedCh is closed after the first list is loaded.
	syncedCh chan struct{}
	// seeded is true when the cache was loaded from Options.Resume: the first list
	// is diffed against it too.
	seeded bool

	// down is true during an outage, between engine_down and engine_up.
	down bool
	// up reports the engine's health to readers (Up).
	up atomic.Bool
	// downSince is the UnixNano of the engine_down of the current outage, 0 when none.
	downSince atomic.Int64
	// sessions counts connections made, for tests and metrics.
	sessions atomic.Int64
	// apiVersion is the API version the engine's last ping answered, for the
	// status; nil before.
	apiVersion atomic.Pointer[string]
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

// APIVersion returns the API version the engine answered its last ping with,
// "" before the first.
func (inf *Informer) APIVersion() string {
	if v := inf.apiVersion.Load(); v != nil {
		return *v
	}
	return ""
}

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
		outage := errors.Is(err, errHeartbeat) || errors.Is(err, errVersionRefused) || !inf.alive(ctx)
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
