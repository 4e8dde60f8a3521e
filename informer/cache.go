package informer

import (
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// Cache holds the containers of one engine as last seen. Reads are safe from any
// goroutine; only the engine's Informer writes. Stored *Container values are never
// modified, so a reader may keep one without holding a lock.
type Cache struct {
	mu         sync.RWMutex
	containers map[string]*Container
}

// NewCache returns an empty cache.
func NewCache() *Cache {
	return &Cache{containers: make(map[string]*Container)}
}

// Get returns the container with this ID, or nil.
func (c *Cache) Get(id string) *Container {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return c.containers[id]
}

// List returns every cached container, sorted by name then ID.
func (c *Cache) List() []*Container {
	c.mu.RLock()
	out := make([]*Container, 0, len(c.containers))
	for _, ct := range c.containers {
		out = append(out, ct)
	}
	c.mu.RUnlock()
	sort.Slice(out, func(i, j int) bool {
		if out[i].Name != out[j].Name {
			return out[i].Name < out[j].Name
		}
		return out[i].ID < out[j].ID
	})
	return out
}

// Len returns the number of cached containers.
func (c *Cache) Len() int {
	c.mu.RLock()
	defer c.mu.RUnlock()
	return len(c.containers)
}

func (c *Cache) set(ct *Container) {
	c.mu.Lock()
	c.containers[ct.ID] = ct
	c.mu.Unlock()
}

func (c *Cache) remove(id string) {
	c.mu.Lock()
	delete(c.containers, id)
	c.mu.Unlock()
}

// ids returns the IDs of all cached containers.
func (c *Cache) ids() []string {
	c.mu.RLock()
	defer c.mu.RUnlock()
	out := make([]string, 0, len(c.containers))
	for id := range c.containers {
		out = append(out, id)
	}
	return out
}

// eventAttributes are attribute keys Docker adds to container events on top of the
// container's labels.
var eventAttributes = map[string]bool{
	"name": true, "image": true, "exitCode": true, "signal": true, "oldName": true,
	"execID": true, "execDuration": true, "container": true,
}

// fromAttributes builds a container from an event alone, when neither the cache nor
// the engine know it any more. Labels are the attributes minus Docker's own keys:
// a label called name or image is lost (Docker writes over it).
func fromAttributes(engine string, m *events.Message) *Container {
	labels := make(map[string]string, len(m.Actor.Attributes))
	for k, v := range m.Actor.Attributes {
		if !eventAttributes[k] {
			labels[k] = v
		}
	}
	return &Container{
		ID:     m.Actor.ID,
		Engine: engine,
		Name:   strings.TrimPrefix(m.Actor.Attributes["name"], "/"),
		Image:  m.Actor.Attributes["image"],
		Labels: labels,
		State:  StateCreated,
	}
}

// fromSummary converts an item of ContainerList. API 1.41 has no exit code or health
// fields in the list: they are read from the Status text ("Exited (137) 2 seconds
// ago", "Up 3 seconds (unhealthy)").
func fromSummary(engine string, s *container.Summary) *Container {
	ct := &Container{
		ID:      s.ID,
		Engine:  engine,
		Image:   s.Image,
		Labels:  s.Labels,
		State:   string(s.State),
		Created: time.Unix(s.Created, 0).UTC(),
	}
	if len(s.Names) > 0 {
		ct.Name = strings.TrimPrefix(s.Names[0], "/")
	}
	if ct.Labels == nil {
		ct.Labels = map[string]string{}
	}
	ct.ExitCode = exitCodeFromStatus(s.Status)
	switch {
	case s.Health != nil && s.Health.Status != "" && s.Health.Status != "none":
		ct.Health = string(s.Health.Status)
	case strings.Contains(s.Status, "(healthy)"):
		ct.Health = "healthy"
	case strings.Contains(s.Status, "(unhealthy)"):
		ct.Health = "unhealthy"
	case strings.Contains(s.Status, "(health: starting)"):
		ct.Health = "starting"
	}
	return ct
}

// exitCodeFromStatus reads N from "Exited (N) ...", or returns 0.
func exitCodeFromStatus(status string) int {
	rest, ok := strings.CutPrefix(status, "Exited (")
	if !ok {
		return 0
	}
	end := strings.IndexByte(rest, ')')
	if end < 0 {
		return 0
	}
	n, err := strconv.Atoi(rest[:end])
	if err != nil {
		return 0
	}
	return n
}

// fromInspect converts the answer of ContainerInspect.
func fromInspect(engine string, r *container.InspectResponse) *Container {
	ct := &Container{ID: r.ID, Engine: engine, Name: strings.TrimPrefix(r.Name, "/"), Labels: map[string]string{}}
	if r.Config != nil {
		ct.Image = r.Config.Image
		if r.Config.Labels != nil {
			ct.Labels = r.Config.Labels
		}
	}
	if r.State != nil {
		ct.State = string(r.State.Status)
		ct.ExitCode = r.State.ExitCode
		if r.State.Health != nil && r.State.Health.Status != "none" {
			ct.Health = string(r.State.Health.Status)
		}
	}
	if t, err := time.Parse(time.RFC3339Nano, r.Created); err == nil {
		ct.Created = t.UTC()
	}
	return ct
}

// applyEvent returns the container after the event m, given the container before
// it. It never modifies prev.
func applyEvent(prev *Container, m *events.Message) *Container {
	next := *prev
	attrs := m.Actor.Attributes
	if name, ok := attrs["name"]; ok && name != "" {
		next.Name = strings.TrimPrefix(name, "/")
	}
	action := string(m.Action)
	kind, status, _ := strings.Cut(action, ":")
	switch kind {
	case "create":
		next.State = StateCreated
	case "start", "restart", "unpause":
		next.State = StateRunning
	case "pause":
		next.State = StatePaused
	case "die":
		next.State = StateExited
		next.Health = ""
		if code, err := strconv.Atoi(attrs["exitCode"]); err == nil {
			next.ExitCode = code
		}
	case "destroy":
		next.State = StateGone
	case "health_status":
		next.Health = strings.TrimSpace(status)
	}
	return &next
}
