package informer

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/go-logr/logr"
	"github.com/moby/moby/client"
)

// EngineClock is implemented by a Client that can tell the engine's own time
// (*client.Client does, with GET /info and its SystemTime). The informer reads it
// once per session, just after the list, and uses it where only the engine's clock
// will do: as the point the next session replays from when no event was seen yet,
// and as the time up to which the list's containers are known (their ledger); and,
// before the first subscription of an engine that has no point to replay from, as
// that subscription's since (see watchFrom). The daemon's clock is never used for
// any of these: the two clocks may disagree by any amount. A Client without it (or
// an engine that refuses /info, as a socket proxy may) still works; only what
// needs the engine's time is not done.
type EngineClock interface {
	Info(ctx context.Context, opts client.InfoOptions) (client.SystemInfoResult, error)
}

// errNoClock is returned by engineNow when the Client is no EngineClock.
var errNoClock = errors.New("the client cannot tell the engine's time")

// engineNow returns the engine's current time (UnixNano).
func (inf *Informer) engineNow(ctx context.Context) (int64, error) {
	ec, ok := inf.opts.Client.(EngineClock)
	if !ok {
		return 0, errNoClock
	}
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	r, err := ec.Info(cctx, client.InfoOptions{})
	if err != nil {
		return 0, fmt.Errorf("engine info: %w", err)
	}
	t, err := time.Parse(time.RFC3339Nano, r.Info.SystemTime)
	if err != nil {
		return 0, fmt.Errorf("engine time %q: %w", r.Info.SystemTime, err)
	}
	return t.UnixNano(), nil
}

// readEngineClock returns the engine's time for the session being synced, or 0
// when it cannot be had; it logs why once per informer (at debug level when the
// Client has no clock at all).
func (inf *Informer) readEngineClock(ctx context.Context) int64 {
	now, err := inf.engineNow(ctx)
	if err == nil {
		return now
	}
	if ctx.Err() == nil && !inf.clockWarned {
		inf.clockWarned = true
		log := logr.FromContextOrDiscard(ctx)
		if errors.Is(err, errNoClock) {
			log.V(1).Info("Engine time unavailable: a quiet engine's first gap is closed by the relist alone", "error", err.Error())
		} else {
			log.Info("Engine time unavailable: a quiet engine's first gap is closed by the relist alone", "error", err.Error())
		}
	}
	return 0
}

// watchFrom returns the engine's time now, read before a session subscribes
// without a point to replay from (no event seen, no replay point: the engine's
// first session, without a checkpoint), and makes it the replay point; 0 when
// the engine cannot tell its time (logged once, see readEngineClock).
//
// The session subscribes from there. dockerd answers GET /events (its headers)
// before it subscribes to its events, Client.EventStream returns on that
// answer, and the session lists the containers at once: the list may be answered
// before the subscription exists, and an event between the two would be in
// neither. From a since read before subscribing, the engine replays it from its
// ring. No margin before it: dockerd keeps its ring and subscribes under one
// lock, so an event stamped before that time that the replay leaves out was in
// the ring already, its state change made before it was stamped, and the list,
// sent later, shows it. What the replay brings that the list shows too is handed
// on once (it happened once the daemon was watching) and moves the cache the way
// the list already did (see Informer.apply).
func (inf *Informer) watchFrom(ctx context.Context) int64 {
	now := inf.readEngineClock(ctx)
	if now != 0 {
		inf.setReplayPoint(now)
	}
	return now
}
