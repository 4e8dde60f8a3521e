package informer

import (
	"sort"
	"sync"
)

// Checkpoint is what an Informer needs to resume where an earlier run of the
// daemon stopped: the newest streamed event whose handling had finished, and
// the containers as those events left them. Options.Resume takes one; the
// Informer's Checkpoint method makes one.
type Checkpoint struct {
	// URL is the engine's address when the checkpoint was taken: the caller
	// should not resume an engine from the checkpoint of another address.
	URL string `json:"url"`
	// LastSeen is the TimeNano of the newest streamed event that was handed
	// to the Handler and whose Handle returned; 0 when none was.
	LastSeen int64 `json:"lastSeen"`
	// FirstSeen is the replay floor, an engine time (UnixNano): every event
	// from it on was streamed since the engine's first list was the baseline,
	// older events were in that list, and a replay never starts before it. It
	// is where the first subscription replayed from (the engine's time read
	// before it), or, when the engine could not tell its time, the TimeNano of
	// the first streamed event handled. Used with LastSeen only.
	FirstSeen int64 `json:"firstSeen,omitempty"`
	// Recent are the streamed events handled within the replay margin before
	// LastSeen: a resumed informer replays from there and drops these.
	Recent []RecentEvent `json:"recent,omitempty"`
	// ReplayFrom is an engine time (UnixNano, the engine's clock) up to which
	// every event was handled or was in a list: a resumed informer that has no
	// LastSeen replays from it. 0 when the engine could not tell its time.
	ReplayFrom int64 `json:"replayFrom,omitempty"`
	// Containers are the containers as the handled events (and lists) left
	// them, sorted by ID.
	Containers []*Container `json:"containers"`
	// Ledger is what the daemon knew of the runs of Containers (by ID), which
	// their JSON does not carry: a resumed informer finds the runs that began
	// after it (see Container).
	Ledger map[string]Ledger `json:"ledger,omitempty"`
}

// Ledger is what the daemon knows of a container's runs, in the engine's clock
// (UnixNano; 0 when unknown).
type Ledger struct {
	// Mark is a time up to which every start and die of the container is
	// known: a run that began after it was not seen.
	Mark int64 `json:"mark,omitempty"`
	// StartedAt is the engine's StartedAt of the container's current (or last)
	// run, when an inspect told it.
	StartedAt int64 `json:"startedAt,omitempty"`
}

// RecentEvent identifies a streamed event for deduplication after a resume.
type RecentEvent struct {
	TimeNano int64  `json:"t"`
	ActorID  string `json:"id"`
	Action   string `json:"action"`
}

// durable is the state of the informer that a checkpoint may record. It
// differs from the cache: it moves only after Handle returned for an event,
// so that a checkpoint never covers an event whose deliveries the Handler
// had not accepted (and, with a journal, made durable) yet. The processor
// goroutine writes it; Checkpoint reads it from any goroutine.
type durable struct {
	mu sync.Mutex
	// ready is set once the state is worth saving: after a resume, or once the
	// first list was loaded.
	ready bool
	// version counts the changes, so that a checkpointer can skip an engine
	// where nothing happened.
	version uint64
	// cursor is the replay cursor of the handled events.
	cursor     cursor
	containers map[string]*Container
}

// setReplayPoint records the informer's replay point (see cursor.replayPoint):
// every event before it was handled.
func (d *durable) setReplayPoint(t int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cursor.setReplayPoint(t) {
		d.version++
	}
}

// setFirstSeen records the informer's replay floor (see cursor.firstSeen)
// when there is none yet.
func (d *durable) setFirstSeen(t int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.cursor.setFirstSeen(t) {
		d.version++
	}
}

// durableHandler hands each event to the real handler, then records it.
type durableHandler struct {
	next Handler
	d    *durable
}

func (h durableHandler) Handle(ev *Event) {
	h.next.Handle(ev)
	h.d.record(ev)
}

// record applies a handled event.
func (d *durable) record(ev *Event) {
	if ev.Type != TypeContainer || ev.Container == nil {
		return
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	c := ev.Container
	if c.State == StateGone {
		delete(d.containers, c.ID)
	} else {
		d.containers[c.ID] = c
	}
	if !ev.Synthetic {
		d.cursor.see(eventKey{timeNano: ev.Time.UnixNano(), id: ev.ActorID, action: ev.Action})
	}
	d.version++
}

// reset makes the containers of the cache the durable ones: called when a
// list was applied, after every event it synthesized was handled.
func (d *durable) reset(c *Cache) {
	c.mu.RLock()
	m := make(map[string]*Container, len(c.containers))
	for id, ct := range c.containers {
		m[id] = ct
	}
	c.mu.RUnlock()
	d.mu.Lock()
	defer d.mu.Unlock()
	d.containers = m
	d.ready = true
	d.version++
}

// resume loads a checkpoint into the informer: its cache, the durable state,
// where the first session replays from, and the events it must not hand on
// twice. The first list is then diffed against the checkpoint's containers
// instead of being taken as the baseline. Called by New only.
func (inf *Informer) resume(cp *Checkpoint) {
	for _, c := range cp.Containers {
		if c == nil || c.ID == "" {
			continue
		}
		ct := *c
		ct.Engine = inf.opts.Name
		if ct.Labels == nil {
			ct.Labels = map[string]string{}
		}
		ct.setLedger(cp.Ledger[ct.ID])
		inf.cache.set(&ct)
	}
	inf.seeded = true
	inf.cursor.load(cp)
	if cp.LastSeen > 0 {
		// The replay floor: events before the margin were all handled, and
		// events before FirstSeen were in the baseline list.
		inf.cursor.firstSeen = max(cp.LastSeen-int64(replayMargin), cp.FirstSeen)
	}
	// Without LastSeen, the floor is where this run first replays from (see
	// session), for both cursors.
	d := inf.durable
	d.reset(inf.cache)
	d.cursor.load(cp)
}

// markDurable records that the cache, after a list, holds nothing that was
// not handled.
func (inf *Informer) markDurable() {
	if inf.durable != nil {
		inf.durable.reset(inf.cache)
	}
}

// CheckpointVersion returns the version Checkpoint would return now, without
// copying anything: a checkpointer skips an engine whose version it wrote.
func (inf *Informer) CheckpointVersion() uint64 {
	d := inf.durable
	if d == nil {
		return 0
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if !d.ready {
		return 0
	}
	return d.version
}

// Checkpoint returns the state to resume the engine from after a restart of
// the daemon, and its version, which grows with every change. It returns
// nil, 0 until there is something worth saving (before the first list, unless
// resumed), and always when Options.Checkpoints is off. Safe from any
// goroutine; every event it covers had its Handle return.
func (inf *Informer) Checkpoint() (*Checkpoint, uint64) {
	d := inf.durable
	if d == nil {
		return nil, 0
	}
	d.mu.Lock()
	if !d.ready {
		d.mu.Unlock()
		return nil, 0
	}
	cp := &Checkpoint{URL: inf.opts.URL}
	d.cursor.save(cp)
	cp.Containers = make([]*Container, 0, len(d.containers))
	for _, c := range d.containers {
		cp.Containers = append(cp.Containers, c)
		if l, ok := c.ledger(); ok {
			if cp.Ledger == nil {
				cp.Ledger = make(map[string]Ledger, len(d.containers))
			}
			cp.Ledger[c.ID] = l
		}
	}
	version := d.version
	d.mu.Unlock()
	sort.Slice(cp.Containers, func(i, j int) bool { return cp.Containers[i].ID < cp.Containers[j].ID })
	return cp, version
}
