package informer

import (
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/samalba/docker-eventsd/informer/eventstream"
)

// Podman serves a Docker-compatible API (`podman system service`), but its
// container events are not quite Docker's (recorded from Debian's podman
// 4.3.1, API 1.41, in testdata/podman-4.3.1-events.jsonl; docs/CONFIG.md,
// "Podman", lists every difference):
//
//   - remove, exec and exec_died stand for Docker's destroy, exec_start and
//     exec_die (and died, on the libpod endpoints, for die);
//   - the event filter knows Podman's names only (it filters before renaming
//     died to die): filtered on "die" or "destroy", the compatible endpoint
//     streams nothing;
//   - health_status comes on every check, bare, with the health in a
//     top-level HealthStatus field; Docker sends "health_status: healthy"
//     only when the health changes;
//   - rename has no oldName.
//
// podmanNames and fromPodman translate, so that rules written for Docker work
// unchanged on Podman. Docker never sends these names, a bare health_status,
// nor a rename without oldName, so the translation needs no detection of the
// engine and leaves Docker's events as they are.

// podmanNames maps the container actions Podman names its own way to Docker's.
var podmanNames = map[string]string{
	"remove":    "destroy",
	"died":      "die",
	"exec":      "exec_start",
	"exec_died": "exec_die",
}

// dockerNames is podmanNames the other way: the Podman names of Docker's actions.
var dockerNames = func() map[string]string {
	m := make(map[string]string, len(podmanNames))
	for p, d := range podmanNames {
		m[d] = p
	}
	return m
}()

// podmanHealthAttr is the attribute that carries Podman's HealthStatus: the
// stream decoder is to put the event's top-level HealthStatus field there
// (events.Message has no field for it). Until it does, the health is not told
// and Podman's health events are dropped rather than handed on bare.
const podmanHealthAttr = eventstream.HealthStatusAttr

// containers tells what the informer knows of a container before an event
// (*Cache): nil when nothing.
type containers interface {
	Get(id string) *Container
}

// fromPodman rewrites the container event m as Docker would have sent it, and
// reports whether it is to be handled at all: a Podman health check whose
// health is the one known (Docker reports only changes), or whose health is
// not told, is not. known holds the containers as the informer knows them
// before m; it is asked only about a bare health_status and a rename without
// oldName, so a Docker event costs a switch. Only what Podman sends
// differently is touched: a Docker event is left as it came. An attribute map
// is copied before it is changed.
func fromPodman(m *events.Message, known containers) bool {
	if m.Type != events.ContainerEventType {
		return true
	}
	switch action := string(m.Action); action {
	case "health_status": // Docker's always has ": status"
		status := m.Actor.Attributes[podmanHealthAttr]
		if status == "" {
			return false
		}
		if c := known.Get(m.Actor.ID); c != nil && c.Health == status {
			return false
		}
		m.Action = events.Action("health_status: " + status)
	case "rename":
		if _, ok := m.Actor.Attributes["oldName"]; ok {
			return true
		}
		cached := known.Get(m.Actor.ID)
		if cached == nil {
			return true
		}
		attrs := copyAttrs(m.Actor.Attributes)
		attrs["oldName"] = "/" + cached.Name
		m.Actor.Attributes = attrs
	case "remove", "died", "exec", "exec_died":
		m.Action = events.Action(podmanNames[action])
		if action == "died" {
			if code, ok := m.Actor.Attributes["containerExitCode"]; ok && m.Actor.Attributes["exitCode"] == "" {
				attrs := copyAttrs(m.Actor.Attributes)
				attrs["exitCode"] = code
				m.Actor.Attributes = attrs
			}
		}
	}
	return true
}

// copyAttrs returns a copy of attrs with room for one more.
func copyAttrs(attrs map[string]string) map[string]string {
	c := make(map[string]string, len(attrs)+1)
	for k, v := range attrs {
		c[k] = v
	}
	return c
}

// withPodmanNames returns the event filters f asking, besides each Docker
// action in its "event" term, for that action's Podman name (die: died, on
// the compatible endpoint), so that one filter serves both engines: each
// ignores the names it does not send. f is not modified.
func withPodmanNames(f client.Filters) client.Filters {
	wanted := f["event"]
	if len(wanted) == 0 {
		return f
	}
	out := f.Clone()
	for action := range wanted {
		if p, ok := dockerNames[action]; ok {
			out.Add("event", p)
		}
	}
	return out
}
