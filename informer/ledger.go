package informer

import (
	"context"
	"sync"
	"time"

	"github.com/go-logr/logr"
	"github.com/moby/moby/client"
)

// The ledger: what the informer knows of each container's runs, so that a relist
// after a gap tells not only the state a container is in, but the runs it went
// through unseen. A container first seen exited did start; one that is exited as
// before, or running as before, but whose StartedAt is later than anything the
// informer knew, died and started again (see synthesizeRuns).
//
// Each cached Container carries a mark (a time up to which its starts and dies
// are known; see Container.mark). After a gap whose events the engine no longer
// holds, the relist inspects the containers it has nothing newer about and
// compares their State.StartedAt and State.FinishedAt with their marks.

// inspectWorkers bounds the inspects one relist runs at once.
const inspectWorkers = 4

// run is what an inspect tells of a container's latest run, in the engine's clock.
type run struct {
	// state is State.Status: it must match the list's, else the container
	// changed after the list and its events tell the rest.
	state string
	// started and finished are State.StartedAt and State.FinishedAt
	// (UnixNano; 0 for Docker's zero time: never started, never stopped).
	// finished is the end of the previous run while the container runs.
	started, finished int64
}

// engineTimeNano parses one of Docker's RFC 3339 times into UnixNano, 0 for its
// zero time ("0001-01-01T00:00:00Z") or anything unreadable.
func engineTimeNano(s string) int64 {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() < 1970 {
		return 0
	}
	return t.UnixNano()
}

// inspectRuns inspects the containers of ids, inspectWorkers at a time, and returns
// what each one's latest run is. A container that cannot be inspected (removed
// since the list) is left out.
func (inf *Informer) inspectRuns(ctx context.Context, ids []string) map[string]run {
	out := make(map[string]run, len(ids))
	if len(ids) == 0 {
		return out
	}
	var (
		mu   sync.Mutex
		wg   sync.WaitGroup
		next = make(chan string)
	)
	log := logr.FromContextOrDiscard(ctx)
	for range min(inspectWorkers, len(ids)) {
		wg.Go(func() {
			for id := range next {
				ictx, cancel := context.WithTimeout(ctx, callTimeout)
				r, err := inf.opts.Client.ContainerInspect(ictx, id, client.ContainerInspectOptions{})
				cancel()
				if err != nil || r.Container.State == nil {
					if ctx.Err() == nil {
						log.V(1).Info("Inspect failed, the list alone tells what changed", "container", id, "error", errString(err))
					}
					continue
				}
				st := r.Container.State
				mu.Lock()
				out[id] = run{state: string(st.Status), started: engineTimeNano(st.StartedAt), finished: engineTimeNano(st.FinishedAt)}
				mu.Unlock()
			}
		})
	}
	for _, id := range ids {
		if ctx.Err() != nil {
			break
		}
		next <- id
	}
	close(next)
	wg.Wait()
	return out
}

func errString(err error) string {
	if err == nil {
		return "no state"
	}
	return err.Error()
}

// transition is one synthesized event: its action, the container as it left it,
// and what its ID derives from.
type transition struct {
	action string
	c      *Container
	kind   byte
	value  int64
}

// synthesizeRuns returns the transitions between prev (the cached container, nil
// when unknown) and cur (as listed now), in order. r, when not nil, is an inspect
// of cur made after the list, trusted up to cutoff (an engine time before which
// every event still in flight was stamped); seen is the newest event the informer
// handed on, the last resort for an ID.
//
// Without r it compares states only: running → stopped is a die, stopped →
// running a start, and so on. With r it also finds the runs nobody saw: a
// StartedAt later than prev's mark is a start that was missed (and the die of
// prev's run before it, and the die of the new run when it is over); a
// FinishedAt later than the mark of a container that was stopped is a whole run
// that was missed. A container never seen before (prev nil) that is stopped but
// has a StartedAt did start: a start then a die.
//
// IDs: the transition a state comparison sees (prev's state to cur's) is
// identified by what was known before it (prev's run's StartedAt when an inspect
// told it, else prev's mark; a new container's creation time), whether or not the
// inspect is trusted this time; the runs only an inspect finds, by their StartedAt
// (or FinishedAt). So the same knowledge gives the same IDs, and the same
// transition found by an event (see apply) has the same ID as by a relist.
func synthesizeRuns(prev, cur *Container, r *run, cutoff, seen int64) []transition {
	if r != nil && (r.state != cur.State || r.started > cutoff || r.finished > cutoff) {
		// It changed after the list (or is changing): its events, in flight or
		// in the stream, tell the rest; guessing from here would tell it twice.
		r = nil
	}
	if r != nil {
		cur.startedAt = r.started
	} else if prev != nil && prev.Running() == cur.Running() {
		cur.startedAt = prev.startedAt
	}

	var out []transition
	add := func(action string, c *Container, kind byte, value int64) {
		out = append(out, transition{action: action, c: c, kind: kind, value: value})
	}
	// dead is c after a die whose exit code nobody saw.
	dead := func(c *Container) *Container {
		d := *c
		d.State, d.Health, d.ExitCode = StateExited, "", -1
		return &d
	}
	// started is c running, as it was when a run began.
	started := func(c *Container) *Container {
		s := *c
		s.State, s.Health, s.ExitCode = StateRunning, "", 0
		return &s
	}
	// unseen is c in a run nobody saw, whose StartedAt is not known.
	unseen := func(c *Container) *Container {
		c.startedAt = 0
		return c
	}
	// after identifies a transition by what was known of the container before it.
	after := func() (byte, int64) {
		switch {
		case prev != nil && prev.mark != 0:
			return basisMark, prev.mark
		case prev == nil && !cur.Created.IsZero():
			return basisOnce, cur.Created.UnixNano()
		}
		return basisSeen, seen
	}
	// ended identifies the die of prev's run.
	ended := func() (byte, int64) {
		if prev.startedAt != 0 {
			return basisStarted, prev.startedAt
		}
		return after()
	}
	stopped := cur.State == StateExited || cur.State == StateDead

	if prev == nil {
		switch {
		case cur.Running() && r != nil && r.finished != 0:
			// Created, run, stopped, and started again, all unseen.
			add("start", unseen(started(cur)), basisFinished, r.finished)
			add("die", unseen(dead(cur)), basisFinished, r.finished)
			k, v := after()
			add("start", cur, k, v)
		case cur.Running():
			k, v := after()
			add("start", cur, k, v)
		case stopped && r != nil && r.started != 0:
			// First seen stopped: it did start.
			add("start", started(cur), basisStarted, r.started)
			k, v := after()
			add("die", cur, k, v)
		case stopped:
			k, v := after()
			add("die", cur, k, v)
		}
		return out
	}

	// A run prev's mark does not cover: one that began (or, for a container
	// that was stopped, ended) after everything known of it.
	known := r != nil && prev.mark != 0
	newRun := known && r.started > prev.mark
	missedRun := known && !prev.Running() && r.finished > prev.mark

	switch {
	case prev.Running() && cur.Running() && newRun:
		k, v := ended()
		add("die", dead(prev), k, v)
		add("start", cur, basisStarted, r.started)
	case prev.Running() && !cur.Running() && newRun:
		k, v := ended()
		add("die", dead(prev), k, v)
		add("start", started(cur), basisStarted, r.started)
		if stopped {
			add("die", cur, basisStarted, r.started)
		}
	case prev.Running() && !cur.Running():
		k, v := ended()
		add("die", cur, k, v)
	case !prev.Running() && cur.Running() && missedRun:
		add("start", unseen(started(cur)), basisFinished, r.finished)
		add("die", unseen(dead(cur)), basisFinished, r.finished)
		k, v := after()
		add("start", cur, k, v)
	case !prev.Running() && cur.Running():
		k, v := after()
		add("start", cur, k, v)
	case !prev.Running() && stopped && newRun:
		// Stopped before and after, but it ran in between.
		add("start", started(cur), basisStarted, r.started)
		add("die", cur, basisStarted, r.started)
	case prev.State == StateRunning && cur.State == StatePaused:
		k, v := after()
		add("pause", cur, k, v)
	case prev.State == StatePaused && cur.State == StateRunning:
		k, v := after()
		add("unpause", cur, k, v)
	default:
		if cur.Health != "" && cur.Health != prev.Health {
			k, v := after()
			add("health_status: "+cur.Health, cur, k, v)
		}
	}
	return out
}

// runCandidates returns the listed containers (without events in this session) an
// inspect may tell something about: the new ones that ran, and, when the engine's
// time is known, every one whose ledger has a mark to compare with.
func (inf *Informer) runCandidates(listed map[string]*Container, touched map[string]bool, clock bool) []string {
	var ids []string
	for _, id := range sortedIDs(listed) {
		if touched[id] {
			continue
		}
		cur := listed[id]
		prev := inf.cache.Get(id)
		switch {
		case prev == nil && cur.State != StateCreated:
			ids = append(ids, id)
		case prev != nil && prev.mark != 0 && clock:
			ids = append(ids, id)
		}
	}
	return ids
}

// lifeBasis identifies the run c is in (or ended) for the ID of a die synthesized
// about it: its StartedAt when an inspect told it, else its ledger mark, else
// (kind, value).
func lifeBasis(c *Container, kind byte, value int64) (byte, int64) {
	switch {
	case c.startedAt != 0:
		return basisStarted, c.startedAt
	case c.mark != 0:
		return basisMark, c.mark
	}
	return kind, value
}

// ledger returns the container's ledger as a Checkpoint records it, and
// whether it knows anything.
func (c *Container) ledger() (Ledger, bool) {
	return Ledger{Mark: c.mark, StartedAt: c.startedAt}, c.mark != 0 || c.startedAt != 0
}

// setLedger sets the container's ledger from a Checkpoint's.
func (c *Container) setLedger(l Ledger) {
	c.mark, c.startedAt = l.Mark, l.StartedAt
}
