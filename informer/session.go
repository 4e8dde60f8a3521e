package informer

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/informer/eventstream"
)

// The session: one connection to the engine, from its ping to the end of its
// stream. Three goroutines: the one that runs session (it lists, then applies
// the buffered events and hands them to the Handler), the reader (read: the
// stream's Next, then the buffer, nothing else), and the heartbeat
// (heartbeat.go), which ends the session when the engine goes quiet.

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
	// Each session negotiates the API version again: the engine may have
	// been upgraded in place (see EngineClient.Ping).
	pong, err := inf.opts.Client.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true, ForceNegotiate: true})
	pcancel()
	if err != nil {
		return fmt.Errorf("%w: %w", errHeartbeat, err)
	}
	if old := inf.apiVersion.Swap(&pong.APIVersion); old != nil && *old != pong.APIVersion {
		log.Info("Engine API version changed", "from", *old, "to", pong.APIVersion)
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
	opts := client.EventsListOptions{Filters: inf.filters(), Since: inf.cursor.since()}
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
	if c := &inf.cursor; c.lastSeen == 0 && c.replayPoint != 0 {
		// Every event from the replay point on reaches this session: it is
		// the replay floor, unless an earlier subscription set one.
		inf.setFirstSeen(c.replayPoint)
	}
	inf.cursor.anchorReplayed = false
	buf := newBuffer()
	if stream, err := inf.opts.Client.EventStream(sctx, opts); err != nil {
		// Told after the list, as a stream that breaks at once.
		buf.close(err)
	} else {
		wg.Add(1)
		go func() {
			defer wg.Done()
			read(sctx, stream, buf, life)
		}()
	}

	lctx, lcancel := context.WithTimeout(sctx, callTimeout)
	release := acquireList(lctx)
	list, err := inf.opts.Client.ContainerList(lctx, client.ContainerListOptions{All: true})
	release()
	lcancel()
	if err != nil {
		if cause := context.Cause(sctx); cause != nil {
			return cause
		}
		if versionRefused(err) {
			return fmt.Errorf("%w: list containers: %w", errVersionRefused, err)
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

// errVersionRefused marks a session ended because the engine refused the API
// version asked for (a version fixed by the config that the engine no longer
// or not yet speaks): the engine answers its pings but serves nothing, which
// is an outage like any other (engine_down), retried with backoff.
var errVersionRefused = errors.New("the engine refuses the API version")

// versionRefused reports whether err is dockerd's refusal of a request's API
// version: 400 "client version 1.41 is too old. Minimum supported API
// version is 1.44, ..." or "client version 1.53 is too new. Maximum
// supported API version is 1.52".
func versionRefused(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "client version ") && (strings.Contains(msg, " is too old") || strings.Contains(msg, " is too new"))
}

// setFirstSeen records t as the replay floor (see cursor.firstSeen) when there
// is none yet, in the checkpoint too.
func (inf *Informer) setFirstSeen(t int64) {
	if inf.cursor.setFirstSeen(t) && inf.durable != nil {
		inf.durable.setFirstSeen(t)
	}
}

// setReplayPoint records t (an engine time) as the point a later session replays
// from when no event was seen, in the checkpoint too.
func (inf *Informer) setReplayPoint(t int64) {
	if inf.cursor.setReplayPoint(t) && inf.durable != nil {
		inf.durable.setReplayPoint(t)
	}
}

// read moves events from the stream to buf, and never waits for anything else:
// the stream decodes each on this goroutine, and buf takes it at once. Each
// event is a sign of life of the engine. The stream ends when ctx does.
func read(ctx context.Context, stream eventstream.Stream, buf *buffer, life *liveness) {
	defer stream.Close()
	for {
		var m events.Message
		if err := stream.Next(&m); err != nil {
			if ctx.Err() != nil {
				err = context.Cause(ctx)
			}
			buf.close(err)
			return
		}
		life.mark()
		buf.push(m)
	}
}
