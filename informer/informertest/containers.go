package informertest

import (
	"strconv"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// Emit records an event in the ring (dropping the oldest beyond RingSize) and sends
// it to the open streams whose filters match. The container's state in the list is
// updated as dockerd would.
func (e *Engine) Emit(action, id string, attrs map[string]string) events.Message {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.emit(action, id, attrs)
}

func (e *Engine) emit(action, id string, attrs map[string]string) events.Message {
	now := time.Now().UnixNano()
	if now <= e.clock {
		now = e.clock + 1
	}
	e.clock = now
	all := map[string]string{}
	if c, ok := e.containers[id]; ok {
		for k, v := range c.Labels {
			all[k] = v
		}
		all["name"] = c.Names[0][1:]
		all["image"] = c.Image
	}
	for k, v := range attrs {
		all[k] = v
	}
	m := events.Message{
		Type:     events.ContainerEventType,
		Action:   events.Action(action),
		Actor:    events.Actor{ID: id, Attributes: all},
		Scope:    "local",
		Time:     now / int64(time.Second),
		TimeNano: now,
	}
	e.ring = append(e.ring, m)
	if len(e.ring) > RingSize {
		e.ring = append(e.ring[:0:0], e.ring[len(e.ring)-RingSize:]...)
	}
	if !e.down {
		for s := range e.subs {
			if match(s.filters, &m) {
				s.push(m)
			}
		}
	}
	return m
}

// Create adds a created container and emits create.
func (e *Engine) Create(id, name, image string, labels map[string]string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if labels == nil {
		labels = map[string]string{}
	}
	e.containers[id] = &container.Summary{ID: id, Names: []string{"/" + name}, Image: image, Labels: labels,
		State: container.StateCreated, Status: "Created", Created: time.Now().Unix()}
	e.emit("create", id, nil)
}

// Start marks a container running and emits start.
func (e *Engine) Start(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.set(id, container.StateRunning, "Up Less than a second")
	e.emit("start", id, nil)
}

// Die marks a container exited with code and emits die.
func (e *Engine) Die(id string, code int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.set(id, container.StateExited, "Exited ("+strconv.Itoa(code)+") Less than a second ago")
	e.emit("die", id, map[string]string{"exitCode": strconv.Itoa(code)})
}

// Destroy removes a container and emits destroy.
func (e *Engine) Destroy(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.emit("destroy", id, nil)
	delete(e.containers, id)
}

// SetState changes a container's state without any event, as happens while the
// informer is disconnected and the ring overflows.
func (e *Engine) SetState(id string, state container.ContainerState, status string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.set(id, state, status)
}

// Remove deletes a container without any event.
func (e *Engine) Remove(id string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.containers, id)
}

// Rename renames a container and emits rename, as dockerd does.
func (e *Engine) Rename(id, name string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[id]
	if !ok {
		return
	}
	old := c.Names[0]
	c.Names = []string{"/" + name}
	e.emit("rename", id, map[string]string{"oldName": old})
}

// FlushRing forgets every event, like an engine restart or a burst of other events.
func (e *Engine) FlushRing() {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ring = nil
}

func (e *Engine) set(id string, state container.ContainerState, status string) {
	if c, ok := e.containers[id]; ok {
		c.State, c.Status = state, status
	}
}
