package config

import "time"

// Defaults and limits of state rules.
const (
	// DefaultEngineDownGrace is how long the containers of an engine that is
	// down keep their last known status before they become StatusUnknown: a
	// short blip must not look like every container vanishing.
	DefaultEngineDownGrace = 10 * time.Second
	// MinResync is the shortest resync: a shorter one would run the command
	// in a tight loop.
	MinResync = time.Second
)

// Triggers of a state rule: when its command runs.
const (
	// TriggerChanged runs the command each time the matching set changes.
	TriggerChanged = "changed"
	// TriggerEmpty runs the command each time the matching set becomes empty.
	TriggerEmpty = "empty"
	// TriggerNonEmpty runs the command each time the matching set stops being
	// empty.
	TriggerNonEmpty = "nonempty"
)

// Statuses a state rule selects containers by. StatusHealthy and
// StatusUnhealthy compare with the container's health; StatusUnknown is the
// status of every container of an engine down for longer than the rule's
// EngineDownGrace; the others compare with the container's state.
const (
	StatusRunning    = "running"
	StatusExited     = "exited"
	StatusPaused     = "paused"
	StatusRestarting = "restarting"
	StatusCreated    = "created"
	StatusRemoving   = "removing"
	StatusDead       = "dead"
	StatusHealthy    = "healthy"
	StatusUnhealthy  = "unhealthy"
	StatusUnknown    = "unknown"
)

// Statuses returns the valid values of a state rule's status:.
func Statuses() []string {
	return []string{
		StatusRunning, StatusExited, StatusPaused, StatusRestarting, StatusCreated,
		StatusRemoving, StatusDead, StatusHealthy, StatusUnhealthy, StatusUnknown,
	}
}

// Triggers returns the valid values of a state rule's trigger:.
func Triggers() []string { return []string{TriggerChanged, TriggerEmpty, TriggerNonEmpty} }

// StateRule is one entry of state:. Where an event rule reacts to each event,
// a state rule reacts to the current state: the set of cached containers, of
// every engine, that its selector matches.
type StateRule struct {
	// Name identifies the rule in logs and in EVENTSD_RULE; defaults to
	// "state-N" (1-based). Unique among the state rules.
	Name string
	// Selector says which engines and containers the rule selects.
	Selector
	// Status lists the statuses selected (see Statuses); empty selects every
	// status but StatusUnknown.
	Status []string
	// Trigger says when the command runs: TriggerChanged, TriggerEmpty or
	// TriggerNonEmpty.
	Trigger string
	// EngineDownGrace is how long an engine may be down before its containers
	// are StatusUnknown; until then they keep their last known status. It is
	// also how long the first evaluation waits for an engine that is down.
	EngineDownGrace time.Duration
	// Debounce is the quiet time after a change before the command runs; 0
	// runs it at the next evaluation.
	Debounce time.Duration
	// MaxDelay caps the wait of a continuous stream of changes (>= Debounce);
	// 0 means no cap.
	MaxDelay time.Duration
	// Resync re-runs the command this long after its last run even when
	// nothing changed; 0 means never.
	Resync time.Duration
	// Monitors selects containers by the result of monitors: monitor name
	// to the results wanted (MonitorResults); a container matches when, for
	// every monitor, its result is one of them (monitorrules.go).
	Monitors map[string][]string
	// Action is what the rule does when it fires.
	Action
	// Pos is where the rule is declared.
	Pos Pos
}
