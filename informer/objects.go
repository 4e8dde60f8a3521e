package informer

import (
	"context"
	"sort"
	"time"

	"github.com/go-logr/logr"
	"github.com/moby/moby/api/types/events"

	"github.com/samalba/docker-eventsd/config"
)

// Docker's event types other than container, which rules name with object:.
const (
	TypeImage   = "image"
	TypeNetwork = "network"
	TypeVolume  = "volume"
	TypeDaemon  = "daemon"
	TypePlugin  = "plugin"
)

// isObjectType reports whether t is a kind of event, other than container,
// that the informer hands on.
func isObjectType(t events.Type) bool {
	switch string(t) {
	case TypeImage, TypeNetwork, TypeVolume, TypeDaemon, TypePlugin:
		return true
	}
	return false
}

// applyObject hands on an event of a kind other than container that
// Options.Objects asks for (others are dropped, as before kinds). It never
// changes the container cache and synthesizes nothing: such events are not
// relisted. Replays are dropped like a container's (the engine's ring and
// its since hold events of every type). A network connect/disconnect or a
// volume mount/unmount carries the cached view of the container its
// "container" attribute names, when the cache holds it (read only).
func (inf *Informer) applyObject(ctx context.Context, m *events.Message) {
	if !isObjectType(m.Type) {
		return
	}
	if _, wanted := inf.opts.Objects[string(m.Type)]; !wanted {
		return // no rule is about this kind
	}
	key := eventKey{timeNano: m.TimeNano, id: string(m.Type) + "/" + m.Actor.ID, action: string(m.Action)}
	if inf.cursor.see(key) {
		logr.FromContextOrDiscard(ctx).V(2).Info("Dropped replayed event", "type", string(m.Type), "action", string(m.Action), "id", m.Actor.ID)
		return
	}
	var c *Container
	if id := m.Actor.Attributes["container"]; id != "" {
		c = inf.cache.Get(id)
	}
	inf.opts.Handler.Handle(&Event{
		ID:         MakeID(inf.opts.Name, m.TimeNano, string(m.Type)+"/"+m.Actor.ID, string(m.Action), false),
		Engine:     inf.opts.Name,
		Type:       string(m.Type),
		Action:     string(m.Action),
		ActorID:    m.Actor.ID,
		Attributes: m.Actor.Attributes,
		Time:       time.Unix(0, m.TimeNano),
		Container:  c,
	})
}

// ObjectsFor returns the kinds other than container that rules need
// streamed, for Options.Objects, each with the actions wanted (nil: all of
// them, for a "*" type).
func ObjectsFor(rules []config.Rule) map[string][]string {
	out := map[string][]string{}
	all := map[string]bool{}
	for i := range rules {
		r := &rules[i]
		for _, o := range r.RuleObjects() {
			if o == config.ObjectContainer || all[o] {
				continue
			}
			for _, t := range r.Types {
				if t == config.TypeAll {
					all[o] = true
					out[o] = nil
					break
				}
				if config.IsObjectAction(o, t) && !contains(out[o], t) {
					out[o] = append(out[o], t)
				}
			}
			if _, ok := out[o]; !ok && !all[o] {
				out[o] = []string{} // only engine types: nothing to stream, but keep the kind
			}
		}
	}
	for o, acts := range out {
		if acts != nil && len(acts) == 0 {
			delete(out, o)
		}
	}
	return out
}

// ContainerTypesFor returns the types of the rules about containers, for
// ActionsFor: the types of a rule only about other kinds ask nothing of
// container events.
func ContainerTypesFor(rules []config.Rule) []string {
	var types []string
	for i := range rules {
		if rules[i].HasObject(config.ObjectContainer) {
			types = append(types, rules[i].Types...)
		}
	}
	return types
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// sortedKinds returns the keys of objects in order, for stable filters.
func sortedKinds(objects map[string][]string) []string {
	kinds := make([]string, 0, len(objects))
	for k := range objects {
		kinds = append(kinds, k)
	}
	sort.Strings(kinds)
	return kinds
}
