package informer

import (
	"context"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
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
	if inf.opts.Actions == nil {
		return f
	}
	seen := map[string]bool{}
	for _, list := range [][]string{StateActions, inf.opts.Actions} {
		for _, a := range list {
			if !seen[a] {
				seen[a] = true
				f.Add("event", a)
			}
		}
	}
	return f
}

// resync applies a fresh list. Events already buffered are applied first; then
// every container that had no event in this session is compared with the cache,
// and after a gap the transitions that happened unseen are synthesized.
func (inf *Informer) resync(ctx context.Context, items []container.Summary, buf *buffer) error {
	log := logr.FromContextOrDiscard(ctx)
	listed := make(map[string]*Container, len(items))
	for i := range items {
		c := fromSummary(inf.opts.Name, &items[i])
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

	now := time.Now()
	synthesized := 0
	for id, cur := range listed {
		if touched[id] {
			continue // the events of this session are newer than the list
		}
		prev := inf.cache.Get(id)
		inf.cache.set(cur)
		if diff {
			synthesized += inf.synthesize(prev, cur, now)
		}
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
			inf.emitSynthetic("die", &dead, now)
			synthesized++
		}
		gone := *prev
		gone.State = StateGone
		inf.emitSynthetic("destroy", &gone, now)
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

// synthesize emits the transitions between prev (nil: unknown) and cur, and returns
// how many.
func (inf *Informer) synthesize(prev, cur *Container, now time.Time) int {
	switch {
	case prev == nil && cur.Running():
		inf.emitSynthetic("start", cur, now)
	case prev == nil && (cur.State == StateExited || cur.State == StateDead):
		// It was created, ran and died while nobody watched.
		inf.emitSynthetic("die", cur, now)
	case prev == nil:
		return 0
	case prev.Running() && !cur.Running():
		inf.emitSynthetic("die", cur, now)
	case !prev.Running() && cur.Running():
		inf.emitSynthetic("start", cur, now)
	case prev.State == StateRunning && cur.State == StatePaused:
		inf.emitSynthetic("pause", cur, now)
	case prev.State == StatePaused && cur.State == StateRunning:
		inf.emitSynthetic("unpause", cur, now)
	default:
		if cur.Health != "" && cur.Health != prev.Health {
			inf.emitSynthetic("health_status: "+cur.Health, cur, now)
			return 1
		}
		return 0
	}
	return 1
}

// emitSynthetic hands on a transition the informer inferred from a relist.
func (inf *Informer) emitSynthetic(action string, c *Container, now time.Time) {
	attrs := map[string]string{"name": c.Name, "image": c.Image}
	if action == "die" {
		attrs["exitCode"] = strconv.Itoa(c.ExitCode)
	}
	inf.opts.Handler.Handle(&Event{
		ID:         MakeID(inf.opts.Name, now.UnixNano(), c.ID, action, true),
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
	if m.Type != events.ContainerEventType || m.Actor.ID == "" {
		return
	}
	if inf.dedup.seen(eventKey{timeNano: m.TimeNano, id: m.Actor.ID, action: string(m.Action)}) {
		logr.FromContextOrDiscard(ctx).V(2).Info("Dropped replayed event", "action", string(m.Action), "id", m.Actor.ID)
		return
	}
	if inf.firstSeen == 0 {
		inf.firstSeen = m.TimeNano
	}
	if m.TimeNano > inf.lastSeen {
		inf.lastSeen = m.TimeNano
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
	// by list or inspect already shows the state after this event.
	if prev.Running() && (kind == "destroy" || (kind == "start" && cached)) {
		dead := *prev
		dead.State, dead.Health, dead.ExitCode = StateExited, "", -1
		inf.emitSynthetic("die", &dead, time.Unix(0, m.TimeNano))
	}
	next := applyEvent(prev, m)
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
		case ActionEngineDown, ActionEngineUp, "":
			continue
		}
		if !seen[kind] {
			seen[kind] = true
			out = append(out, kind)
		}
	}
	return out
}
