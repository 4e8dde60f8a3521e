package informer

import (
	"context"
	"math"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/config"
)

// StateActions are the container actions that change what the cache holds. The
// informer always subscribes to them, whatever the rules want.
var StateActions = []string{
	"create", "start", "restart", "stop", "die", "kill", "oom", "pause", "unpause",
	"rename", "update", "destroy", "health_status",
}

// settle is how long a relist after a gap waits before diffing, so that events the
// engine published just before the list reach the stream first and are not also
// synthesized.
const settle = 150 * time.Millisecond

// filters returns the server-side filters: container events only, and only the
// wanted actions when Options.Actions is set (exec noise is then never streamed).
func (inf *Informer) filters() client.Filters {
	f := client.Filters{}.Add("type", string(events.ContainerEventType))
	// Other kinds the rules need (image, network...): the engine ANDs the
	// type and event terms, so their actions join the container's, and a
	// kind that wants all its actions streams every action of every type
	// asked for (the controller matches what it gets).
	lists := [][]string{StateActions, inf.opts.Actions}
	allActions := inf.opts.Actions == nil
	for _, kind := range sortedKinds(inf.opts.Objects) {
		f.Add("type", kind)
		acts := inf.opts.Objects[kind]
		allActions = allActions || acts == nil
		lists = append(lists, acts)
	}
	if allActions {
		return f
	}
	seen := map[string]bool{}
	for _, list := range lists {
		for _, a := range list {
			if !seen[a] {
				seen[a] = true
				f.Add("event", a)
			}
		}
	}
	return withPodmanNames(f)
}

// resync applies a fresh list. Events already buffered are applied first; then
// every container that had no event in this session is compared with the cache,
// and after a gap the transitions that happened unseen are synthesized. When the
// replay did not prove that the engine still held every event of the gap (see
// cursor.anchor), those containers are inspected too, and the runs they went
// through unseen are synthesized (see synthesizeRuns).
func (inf *Informer) resync(ctx context.Context, items []container.Summary, buf *buffer) error {
	log := logr.FromContextOrDiscard(ctx)
	listed := make(map[string]*Container, len(items))
	for i := range items {
		c := fromSummary(inf.opts.Name, &items[i])
		// The list shows every start and die up to the engine's time read
		// after it (the ledger), also to an event about a container first
		// known from it (see apply).
		c.mark = inf.listedAt
		listed[c.ID] = c
	}
	inf.lookup = listed
	defer func() { inf.lookup = nil }()

	wasSynced := inf.synced.Load()
	// After a gap, or on a cache resumed from a checkpoint, the list is diffed.
	diff := wasSynced || inf.seeded
	if diff {
		select {
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-time.After(settle):
		}
	}
	touched := make(map[string]bool)
	batch := buf.drain(nil)
	for i := range batch {
		inf.apply(ctx, &batch[i], touched)
	}

	// The ledger: the list is known up to the engine time read after it. An
	// inspect is trusted up to replayMargin before that time: a run that began
	// later has its events still in flight, or in the stream.
	listedAt := inf.listedAt
	cutoff := int64(math.MaxInt64)
	if listedAt != 0 {
		cutoff = listedAt - int64(replayMargin)
	}
	var runs map[string]run
	if diff && !inf.cursor.anchorReplayed {
		runs = inf.inspectRuns(ctx, inf.runCandidates(listed, touched, listedAt != 0))
		if err := context.Cause(ctx); err != nil {
			return err
		}
	}

	now := time.Now()
	synthesized := 0
	for _, id := range sortedIDs(listed) {
		cur := listed[id]
		if touched[id] {
			continue // the events of this session are newer than the list
		}
		prev := inf.cache.Get(id)
		switch {
		case listedAt != 0:
			cur.mark = listedAt
		case prev != nil:
			cur.mark = prev.mark
		}
		var ts []transition
		if diff {
			var r *run
			if got, ok := runs[id]; ok {
				r = &got
			}
			ts = synthesizeRuns(prev, cur, r, cutoff, inf.cursor.lastSeen)
		} else if prev != nil && prev.Running() == cur.Running() {
			cur.startedAt = prev.startedAt
		}
		inf.cache.set(cur)
		for _, t := range ts {
			inf.emitSynthetic(t.action, t.c, now, t.kind, t.value)
		}
		synthesized += len(ts)
	}
	for _, id := range inf.cache.ids() {
		if _, ok := listed[id]; ok || touched[id] {
			continue
		}
		prev := inf.cache.Get(id)
		inf.cache.remove(id)
		if !diff || prev == nil {
			continue
		}
		if prev.Running() {
			dead := *prev
			dead.State, dead.Health, dead.ExitCode = StateExited, "", -1
			k, v := lifeBasis(prev, basisSeen, inf.cursor.lastSeen)
			inf.emitSynthetic("die", &dead, now, k, v)
			synthesized++
		}
		gone := *prev
		gone.State = StateGone
		inf.emitSynthetic("destroy", &gone, now, basisOnce, 0)
		synthesized++
	}
	if synthesized > 0 {
		log.Info("Synthesized missed transitions", "count", synthesized)
	}
	inf.markDurable()
	if !wasSynced {
		inf.synced.Store(true)
		close(inf.syncedCh)
	}
	return nil
}

// sortedIDs returns the keys of m in order, so that synthesized transitions come
// in the same order from the same list.
func sortedIDs(m map[string]*Container) []string {
	ids := make([]string, 0, len(m))
	for id := range m {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids
}

// emitSynthetic hands on a transition the informer inferred; its ID derives from
// (kind, value), what identifies the transition in the engine's records (see
// syntheticID), and now is when it was noticed.
func (inf *Informer) emitSynthetic(action string, c *Container, now time.Time, kind byte, value int64) {
	attrs := map[string]string{"name": c.Name, "image": c.Image}
	if action == "die" {
		attrs["exitCode"] = strconv.Itoa(c.ExitCode)
	}
	inf.opts.Handler.Handle(&Event{
		ID:         syntheticID(inf.opts.Name, c.ID, action, kind, value),
		Engine:     inf.opts.Name,
		Type:       TypeContainer,
		Action:     action,
		ActorID:    c.ID,
		Attributes: attrs,
		Time:       now,
		Synthetic:  true,
		Container:  c,
	})
}

// apply applies one streamed event to the cache and hands it on. Replayed events
// seen before are dropped. touched, when not nil, collects the containers that had
// events.
func (inf *Informer) apply(ctx context.Context, m *events.Message, touched map[string]bool) {
	if m.Type != events.ContainerEventType {
		inf.applyObject(ctx, m)
		return
	}
	if m.Type != events.ContainerEventType || m.Actor.ID == "" || !fromPodman(m, inf.cache) {
		return
	}
	key := eventKey{timeNano: m.TimeNano, id: m.Actor.ID, action: string(m.Action)}
	if inf.cursor.see(key) {
		logr.FromContextOrDiscard(ctx).V(2).Info("Dropped replayed event", "action", string(m.Action), "id", m.Actor.ID)
		return
	}
	if touched != nil {
		touched[m.Actor.ID] = true
	}
	prev := inf.cache.Get(m.Actor.ID)
	cached := prev != nil
	if !cached {
		prev = inf.find(ctx, m)
	}
	kind, _, _ := strings.Cut(string(m.Action), ":")
	// A destroy, or a start, of a container the cache holds as running means its
	// die was lost: pushed out of the engine's ring while disconnected, or never
	// emitted (an engine killed with its containers and restarted, the container
	// started again before the relist). Only the cache can tell: a container found
	// by list or inspect already shows the state after this event. So does a
	// cached one whose mark is this start's time or later: its value came from a
	// list that already showed this start, whose event the engine replayed (or
	// streamed) after the list was applied.
	if prev.Running() && (kind == "destroy" || (kind == "start" && cached && (prev.mark == 0 || m.TimeNano > prev.mark))) {
		dead := *prev
		dead.State, dead.Health, dead.ExitCode = StateExited, "", -1
		k, v := lifeBasis(prev, basisEvent, m.TimeNano)
		inf.emitSynthetic("die", &dead, time.Unix(0, m.TimeNano), k, v)
	}
	next := applyEvent(prev, m)
	// The ledger: the container is known up to this event; a start begins a run
	// whose StartedAt no inspect told.
	next.mark = max(next.mark, m.TimeNano)
	if kind == "start" {
		next.startedAt = 0
	}
	if next.State == StateGone {
		inf.cache.remove(next.ID)
	} else {
		inf.cache.set(next)
	}
	inf.opts.Handler.Handle(&Event{
		ID:         MakeID(inf.opts.Name, m.TimeNano, m.Actor.ID, string(m.Action), false),
		Engine:     inf.opts.Name,
		Type:       TypeContainer,
		Action:     string(m.Action),
		ActorID:    m.Actor.ID,
		Attributes: m.Actor.Attributes,
		Time:       time.Unix(0, m.TimeNano),
		Container:  next,
	})
}

// find returns what is known of a container that is not cached: from the list being
// applied, else from the engine, else from the event's attributes.
func (inf *Informer) find(ctx context.Context, m *events.Message) *Container {
	if c := inf.lookup[m.Actor.ID]; c != nil {
		return c
	}
	if kind, _, _ := strings.Cut(string(m.Action), ":"); kind != "destroy" {
		ictx, cancel := context.WithTimeout(ctx, callTimeout)
		r, err := inf.opts.Client.ContainerInspect(ictx, m.Actor.ID, client.ContainerInspectOptions{})
		cancel()
		if err == nil {
			c := fromInspect(inf.opts.Name, &r.Container)
			// The state is the one before this event: applyEvent moves it on. A
			// container inspected on its create is still "created".
			if kind == "create" {
				c.State = StateCreated
			}
			return c
		}
		logr.FromContextOrDiscard(ctx).V(1).Info("Inspect failed, using event attributes", "container", m.Actor.ID, "error", err.Error())
	}
	return fromAttributes(inf.opts.Name, m)
}

// ActionsFor returns the container actions that rules of these types need streamed,
// for Options.Actions, or nil when every action is wanted (a "*" type, or no types
// at all: with no rules every event is logged). Types carrying a status
// ("health_status:unhealthy") need their action; engine_down and engine_up need none.
func ActionsFor(types []string) []string {
	if len(types) == 0 {
		return nil
	}
	out := []string{}
	seen := map[string]bool{}
	for _, t := range types {
		kind, _, _ := strings.Cut(t, ":")
		switch kind {
		case "*":
			return nil
		case ActionEngineDown, ActionEngineUp, ActionEngineAdded, ActionEngineRemoved, "":
			continue
		}
		if config.IsMonitorType(kind) {
			continue // made by the daemon's monitors, not by engines
		}
		if !seen[kind] {
			seen[kind] = true
			out = append(out, kind)
		}
	}
	return out
}
