package informer

import (
	"strconv"
	"time"
)

// cursor is where an engine's event stream is to be picked up again after a
// break: the replay cursor. It moves with every streamed event, and says where
// the next subscription asks the engine to replay from (since) and which of
// the replayed events were handed on already (seen).
//
// An Informer keeps two: the live one, moved as events are applied to the
// cache, and the durable one (see durable), moved only once the Handler's
// Handle returned, which a Checkpoint records. Its durable form is the
// LastSeen, FirstSeen, Recent and ReplayFrom of a Checkpoint (save, load).
type cursor struct {
	// lastSeen is the TimeNano of the newest event handed on; a reconnect
	// replays from just before it.
	lastSeen int64
	// anchor is the key of that newest event. When a replay brings it back,
	// the engine's ring still held it, and so every event after it: the
	// replay closed the gap, and the relist need not inspect anything
	// (anchorReplayed, reset by each subscription).
	anchor         eventKey
	anchorReplayed bool
	// replayPoint is an engine time (UnixNano) up to which every event was
	// handed on or was in a first list: the engine's time read before the
	// first subscription (see Informer.watchFrom), then the one read after a
	// list once its session had been in sync for replayPointDelay. A session
	// replays from it when no event was ever seen (lastSeen is 0). 0: unknown.
	replayPoint int64
	// firstSeen is the replay floor: the engine time from which every event
	// reached the informer, older ones being covered by the first list. It is
	// the since of the first subscription that had one (the engine's time
	// read before it, or a resumed replay point), else, when the engine cannot
	// tell its time, the TimeNano of the first event received. A replay never
	// starts before it: an older event would be handed on over a list that
	// shows it.
	firstSeen int64
	// recent are the keys of the events seen last: "since" is inclusive, and
	// a replay repeats them.
	recent dedup
}

// see moves the cursor over a streamed event, and reports whether it was seen
// before (a replay), in which case nothing moves but anchorReplayed.
func (c *cursor) see(k eventKey) (replayed bool) {
	if c.recent.seen(k) {
		if k == c.anchor {
			c.anchorReplayed = true
		}
		return true
	}
	if c.firstSeen == 0 {
		c.firstSeen = k.timeNano
	}
	if k.timeNano >= c.lastSeen {
		c.lastSeen = k.timeNano
		c.anchor = k
	}
	return false
}

// since returns where a session asks the engine to replay from: just before
// the newest event handed on, or, when none was ever seen, the replay point;
// "" when there is none yet (see Informer.watchFrom).
func (c *cursor) since() string {
	switch {
	case c.lastSeen != 0:
		return formatSince(max(c.lastSeen-int64(replayMargin), c.firstSeen))
	case c.replayPoint != 0:
		// No margin: every event this session did not get was stamped after
		// it (see replayPointDelay), and an earlier one would be replayed
		// onto a list that already shows it.
		return formatSince(c.replayPoint)
	}
	return ""
}

// setFirstSeen records t as the replay floor when there is none yet, and
// reports whether it did.
func (c *cursor) setFirstSeen(t int64) bool {
	if c.firstSeen != 0 {
		return false
	}
	c.firstSeen = t
	return true
}

// setReplayPoint records t (an engine time) as the replay point when it is
// later than the one known, and reports whether it did.
func (c *cursor) setReplayPoint(t int64) bool {
	if t <= c.replayPoint {
		return false
	}
	c.replayPoint = t
	return true
}

// save writes the cursor's durable form into cp: LastSeen, FirstSeen,
// ReplayFrom, and as Recent the events within replayMargin of LastSeen (a
// resumed cursor replays from there and drops these), oldest first.
func (c *cursor) save(cp *Checkpoint) {
	cp.LastSeen, cp.FirstSeen, cp.ReplayFrom = c.lastSeen, c.firstSeen, c.replayPoint
	floor := c.lastSeen - int64(replayMargin)
	cp.Recent = nil
	c.recent.each(func(k eventKey) {
		if k.timeNano >= floor {
			cp.Recent = append(cp.Recent, RecentEvent{TimeNano: k.timeNano, ActorID: k.id, Action: k.action})
		}
	})
}

// load sets the cursor from the durable form in cp (see save), as it was
// saved: the live cursor of a resumed Informer raises its replay floor
// further (see Informer.resume).
func (c *cursor) load(cp *Checkpoint) {
	c.lastSeen, c.replayPoint = cp.LastSeen, cp.ReplayFrom
	if cp.LastSeen > 0 {
		c.firstSeen = cp.FirstSeen
	}
	for _, r := range cp.Recent {
		k := eventKey{timeNano: r.TimeNano, id: r.ActorID, action: r.Action}
		c.recent.seen(k)
		if r.TimeNano == cp.LastSeen {
			c.anchor = k
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
