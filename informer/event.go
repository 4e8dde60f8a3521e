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
	// ActionEngineAdded and ActionEngineRemoved are made by the daemon, not
	// the informer, when an engine joins or leaves the running set.
	ActionEngineAdded   = "engine_added"
	ActionEngineRemoved = "engine_removed"
)

// Event is one thing that happened on an engine, as handed to the controller.
// It is immutable once emitted: share it, do not modify it. It encodes to JSON
// and back unchanged (the controller journals pending deliveries with it).
type Event struct {
	// ID identifies the event: the same for every attempt of every delivery of it,
	// and the same if the engine replays it (see MakeID), or, for a synthesized
	// one, if the informer synthesizes it again from the same knowledge (see
	// syntheticID).
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
	// last known state). Nil for engine events. For a monitor event, the
	// container checked, nil for a fixed address.
	Container *Container `json:"container,omitempty"`
	// Monitor is what a monitor found, for events of TypeMonitor; nil
	// otherwise (monitorevent.go).
	Monitor *MonitorResult `json:"monitor,omitempty"`
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

// What a synthesized transition's ID is derived from (see syntheticID).
const (
	// basisStarted: the engine's StartedAt of the run the transition begins or
	// ends, as an inspect gave it.
	basisStarted = 's'
	// basisFinished: the engine's FinishedAt of a run that began and ended unseen.
	basisFinished = 'f'
	// basisMark: the container's ledger mark before the transition (see
	// Container.mark): "the first such transition after what was known then".
	basisMark = 'm'
	// basisEvent: the TimeNano of the streamed event that proved the transition.
	basisEvent = 'e'
	// basisSeen: the newest event the informer had handed on, when nothing
	// about the container itself tells its runs apart.
	basisSeen = 'l'
	// basisOnce: a transition that happens once in a container's life: its
	// destroy (value 0), or what it went through before the informer first
	// knew it (value its creation time).
	basisOnce = 'o'
)

// syntheticID returns the ID of a transition the informer synthesized: a hash of
// the engine, the container, the action, and what identifies the transition in
// the engine's own records (kind is one of the basis constants, value its time in
// the engine's clock). It never depends on when the daemon noticed the
// transition, so the same transition synthesized again from the same knowledge
// (a restart of the daemon from the same checkpoint) has the same ID, and another
// run of the container (a restart) has another one. The synthetic marker keeps
// it apart from any real event's ID.
func syntheticID(engine, containerID, action string, kind byte, value int64) string {
	var buf [192]byte
	b := append(buf[:0], engine...)
	b = append(b, 0)
	b = append(b, kind)
	b = strconv.AppendInt(b, value, 10)
	b = append(b, 0)
	b = append(b, containerID...)
	b = append(b, 0)
	b = append(b, action...)
	b = append(b, 0, 's', 'y', 'n')
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

	// The container's ledger, in the engine's clock (UnixNano), kept out of the
	// JSON that handlers and state rules see (a Checkpoint carries it as Ledger).
	//
	// mark is a time up to which every start and die of the container is
	// reflected in this value: the TimeNano of the last event applied to it,
	// or the engine's time just after the list it was taken from. A run whose
	// StartedAt (or FinishedAt) is later than mark was not seen. 0: unknown.
	mark int64
	// startedAt is the engine's StartedAt of the run this value is in (or
	// ended), when an inspect told it; 0 when unknown.
	startedAt int64
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
