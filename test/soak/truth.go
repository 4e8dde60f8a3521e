package soak

import (
	"sort"
	"time"
)

// Transition kinds: the life of a container as the ledger counts it.
const (
	kindStart   = "start"
	kindDie     = "die"
	kindDestroy = "destroy"
)

// transition is one start, die or destroy of a container, as the engine saw
// it. It happened between Lo and Hi (equal when the engine stamped it).
type transition struct {
	Kind   string    `json:"kind"`
	Lo     time.Time `json:"lo"`
	Hi     time.Time `json:"hi"`
	Reason string    `json:"reason,omitempty"`
}

// observation is what one inspect of a container says, or that it is gone.
type observation struct {
	Exists     bool
	Running    bool // running, paused or restarting: it has not died
	Paused     bool
	StartedAt  string
	FinishedAt string
}

// zeroTime is how Docker writes a time that never happened.
const zeroTime = "0001-01-01T00:00:00Z"

// ctrTruth is the life of one container, built from the engine's own view:
// the inspections the soak makes after each of its actions and after each
// engine restart. Between two inspections the soak makes at most one action
// on the container and kills its engine at most once, so a container starts
// at most once and dies at most once between them: a new StartedAt is one
// start, a new FinishedAt is one die, ordered by those times.
type ctrTruth struct {
	Engine string `json:"engine"`
	ID     string `json:"id"`
	Name   string `json:"name"`

	last     observation
	lastAt   time.Time // when last was taken
	seen     bool      // an inspection succeeded at least once
	known    bool      // the last inspection succeeded: last is current
	Gone     bool      `json:"gone"`
	Timeline []transition
}

func parseDockerTime(s string) (time.Time, bool) {
	if s == "" || s == zeroTime {
		return time.Time{}, false
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	return t, err == nil
}

// observe records an inspection taken at "at", after an action that began at
// "since" (the earliest a transition it caused can have happened), and
// returns the transitions it reveals.
func (c *ctrTruth) observe(o observation, since, at time.Time, reason string) []transition {
	if c.Gone {
		return nil
	}
	prev := c.last
	if !c.seen {
		prev = observation{Exists: true, StartedAt: zeroTime, FinishedAt: zeroTime}
	}
	var out []transition
	if !o.Exists {
		lo := c.lastAt
		if lo.IsZero() {
			lo = since
		}
		if prev.Running {
			out = append(out, transition{Kind: kindDie, Lo: lo, Hi: at, Reason: reason})
		}
		out = append(out, transition{Kind: kindDestroy, Lo: lo, Hi: at, Reason: reason})
		c.Gone = true
	} else {
		if o.StartedAt != prev.StartedAt {
			if t, ok := parseDockerTime(o.StartedAt); ok {
				out = append(out, transition{Kind: kindStart, Lo: t, Hi: t, Reason: reason})
			}
		}
		if o.FinishedAt != prev.FinishedAt {
			if t, ok := parseDockerTime(o.FinishedAt); ok {
				out = append(out, transition{Kind: kindDie, Lo: t, Hi: t, Reason: reason})
			}
		}
		sort.SliceStable(out, func(i, j int) bool { return out[i].Lo.Before(out[j].Lo) })
	}
	c.last, c.lastAt, c.seen, c.known = o, at, true, true
	c.Timeline = append(c.Timeline, out...)
	return out
}
