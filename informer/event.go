package informer

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"
)

// Event types that are not Docker's: the informer makes them about the engine itself.
const (
	// TypeContainer is Docker's container event type.
	TypeContainer = "container"
	// TypeEngine is the type of the daemon's own engine_down / engine_up events.
	TypeEngine = "engine"

	ActionEngineDown = "engine_down"
	ActionEngineUp   = "engine_up"
)

// Event is one thing that happened on an engine, as handed to the controller.
// It is immutable once emitted: share it, do not modify it. It encodes to JSON
// and back unchanged (the controller journals pending deliveries with it).
type Event struct {
	// ID identifies the event: the same for every attempt of every delivery of it,
	// and the same if the engine replays it. See MakeID.
	ID string `json:"id"`
	// Engine is the engine's name from the config.
	Engine string `json:"engine"`
	// Type is Docker's event type ("container") or TypeEngine.
	Type string `json:"type"`
	// Action is as Docker sent it ("exec_start: sh -c true", "health_status: healthy").
	Action string `json:"action"`
	// ActorID is the container ID for container events, "" for engine events.
	ActorID string `json:"actorId,omitempty"`
	// Attributes are the event's attributes as Docker sent them (nil for synthesized events).
	// Labels here may be shadowed by name and image: use Container.Labels.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Time is when the engine stamped the event; for synthesized events, when the
	// informer noticed the transition.
	Time time.Time `json:"time"`
	// Synthetic is true for events the informer made up after a relist, and for
	// engine_down / engine_up.
	Synthetic bool `json:"synthetic,omitempty"`
	// Container is the cached container after the event was applied (for destroy: its
	// last known state). Nil for engine events.
	Container *Container `json:"container,omitempty"`
}

// Kind is Action without the ": ..." suffix Docker adds to exec and health events
// ("exec_start: sh -c true" -> "exec_start").
func (e *Event) Kind() string {
	if i := strings.IndexByte(e.Action, ':'); i >= 0 {
		return e.Action[:i]
	}
	return e.Action
}

// Status is the part of Action after ": " ("health_status: healthy" -> "healthy"), or "".
func (e *Event) Status() string {
	if i := strings.IndexByte(e.Action, ':'); i >= 0 {
		return strings.TrimSpace(e.Action[i+1:])
	}
	return ""
}

// MakeID returns a stable ID for an event: a hash of engine, timeNano, actor and
// action, so that a replayed event has the ID it had the first time.
func MakeID(engine string, timeNano int64, actorID, action string, synthetic bool) string {
	// One hash of engine NUL timeNano NUL actor NUL action [NUL 's'], built on
	// the stack: this runs for every event (allocates only the result).
	var buf [192]byte
	b := append(buf[:0], engine...)
	b = append(b, 0)
	b = strconv.AppendInt(b, timeNano, 10)
	b = append(b, 0)
	b = append(b, actorID...)
	b = append(b, 0)
	b = append(b, action...)
	if synthetic {
		b = append(b, 0, 's')
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:12])
}

// Container states as Docker reports them in State, plus StateGone for a destroyed one.
const (
	StateCreated    = "created"
	StateRunning    = "running"
	StatePaused     = "paused"
	StateRestarting = "restarting"
	StateRemoving   = "removing"
	StateExited     = "exited"
	StateDead       = "dead"
	StateGone       = "gone"
)

// Container is the cached view of one container. A *Container is never modified
// after it is stored: the cache replaces it with a new value on every change, so a
// reader can keep it without locks.
type Container struct {
	ID     string            `json:"id"`
	Engine string            `json:"engine"`
	Name   string            `json:"name"` // without the leading slash
	Image  string            `json:"image"`
	Labels map[string]string `json:"labels"`
	State  string            `json:"state"`
	// Health is "", "starting", "healthy" or "unhealthy".
	Health string `json:"health,omitempty"`
	// ExitCode is the last known exit code (valid when State is exited or dead).
	ExitCode int `json:"exitCode"`
	// Created is when the container was created (zero when unknown).
	Created time.Time `json:"created"`
}

// Running reports whether the container's processes run (running, paused or restarting
// count: the container has not died).
func (c *Container) Running() bool {
	switch c.State {
	case StateRunning, StatePaused, StateRestarting:
		return true
	}
	return false
}
