package daemon

import (
	"time"

	"github.com/samalba/docker-eventsd/controller"
	"github.com/samalba/docker-eventsd/informer"
)

// Engine states in EngineStatus.State.
const (
	// EngineUp: connected and in sync.
	EngineUp = "up"
	// EngineDown: unreachable; engine_down was handed on.
	EngineDown = "down"
	// EngineConnecting: never in sync yet.
	EngineConnecting = "connecting"
	// EngineReconnecting: its stream ended, and it was not declared down.
	EngineReconnecting = "reconnecting"
)

// DefaultReadyGrace is how long an engine that is not in sync may hold up
// readiness (Ready) when the caller gives no grace.
const DefaultReadyGrace = 30 * time.Second

// Status is what the daemon knows of itself, as /status serves it and
// `docker-eventsd status` shows it.
type Status struct {
	// Started is when the daemon was built.
	Started time.Time `json:"started"`
	// Ready is Ready's answer; Waiting the engines it waits for.
	Ready   bool     `json:"ready"`
	Waiting []string `json:"waiting,omitempty"`
	// Stuck are the loops stuck past their limit (Stuck).
	Stuck   []string                `json:"stuck,omitempty"`
	Engines []EngineStatus          `json:"engines"`
	Rules   []controller.RuleStatus `json:"rules"`
	// QueueDepth is the number of keys waiting in the workqueue; Pending the
	// deliveries not done (waiting, retrying or running).
	QueueDepth int `json:"queueDepth"`
	Pending    int `json:"pending"`
	// DeadLetters counts the deliveries given up and kept.
	DeadLetters int          `json:"deadLetters"`
	Reload      ReloadStatus `json:"reload"`
	// HA is which replica leads and since when (ha:); nil without ha:.
	HA *HAStatus `json:"ha,omitempty"`
}

// EngineStatus is one engine in Status.
type EngineStatus struct {
	Name string `json:"name"`
	URL  string `json:"url"`
	// State is EngineUp, EngineDown, EngineConnecting or EngineReconnecting.
	State string `json:"state"`
	// DownSince is when its current outage began.
	DownSince  time.Time `json:"downSince,omitzero"`
	Containers int       `json:"containers"`
	// LastEvent is the engine's time of the newest event it streamed.
	LastEvent  time.Time `json:"lastEvent,omitzero"`
	Reconnects int64     `json:"reconnects"`
	// APIVersion is the API version the engine answered its last ping with.
	APIVersion string `json:"apiVersion,omitempty"`
}

// Status returns the daemon's status now; grace is that of Ready.
func (d *Daemon) Status(grace time.Duration) Status {
	ready, waiting := d.Ready(grace)
	st := Status{
		Started:    d.created,
		Ready:      ready,
		Waiting:    waiting,
		Stuck:      d.Stuck(),
		Rules:      d.ctrl.RuleStatuses(),
		QueueDepth: d.ctrl.QueueDepth(),
		Pending:    d.ctrl.Pending(),
		// Dead letters: the deliveries given up and kept (dead list).
		DeadLetters: d.ctrl.DeadLetterCount(),
		Reload:      *d.obs.reload.Load(),
		HA:          d.ha.status(),
	}
	for _, e := range d.engines.list.Load().engines {
		inf := e.inf
		es := EngineStatus{
			Name:       inf.Name(),
			URL:        e.url,
			State:      engineState(inf),
			DownSince:  inf.DownSince(),
			Containers: inf.Cache().Len(),
			Reconnects: reconnects(inf),
			APIVersion: inf.APIVersion(),
		}
		if m := d.obs.lookup(inf.Name()); m != nil {
			if t := m.lastEvent.Load(); t != 0 {
				es.LastEvent = time.Unix(0, t)
			}
		}
		st.Engines = append(st.Engines, es)
	}
	return st
}

// engineState returns the state of inf, for EngineStatus.State.
func engineState(inf *informer.Informer) string {
	switch {
	case inf.Up():
		return EngineUp
	case !inf.DownSince().IsZero():
		return EngineDown
	case !inf.HasSynced():
		return EngineConnecting
	default:
		return EngineReconnecting
	}
}

// Ready reports whether the daemon is ready: its config is loaded (it is,
// once built) and every engine is in sync, or reconnecting after it was, or
// down (or never in sync) for longer than grace (DefaultReadyGrace when
// zero or less). waiting names the engines it waits for.
func (d *Daemon) Ready(grace time.Duration) (ready bool, waiting []string) {
	if grace <= 0 {
		grace = DefaultReadyGrace
	}
	now := time.Now()
	for _, e := range d.engines.list.Load().engines {
		inf := e.inf
		var since time.Time
		switch engineState(inf) {
		case EngineUp, EngineReconnecting:
			continue
		case EngineDown:
			since = inf.DownSince()
		default:
			since = d.created
			if m := d.obs.lookup(inf.Name()); m != nil {
				since = m.created
			}
		}
		if now.Sub(since) < grace {
			waiting = append(waiting, inf.Name())
		}
	}
	return len(waiting) == 0, waiting
}
