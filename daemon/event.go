package daemon

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller"
	"github.com/samalba/docker-eventsd/informer"
)

// Event is an event as the rules see it (informer.Event).
type Event = informer.Event

// RuleMatch is what an event rule does with an event (Explain).
type RuleMatch = controller.RuleMatch

// Explain tells, for each event rule of cfg in order, whether ev matches it
// and, when not, the first filter that failed: the controller's matching.
func Explain(cfg *config.Config, ev *informer.Event) []RuleMatch {
	return controller.NewExplainer(cfg).Explain(ev)
}

// dockerEvent is an event as the engine sends it on GET /events: Type,
// Action, Actor since API 1.22; status, id and from too until 1.52.
type dockerEvent struct {
	Type   string `json:"Type"`
	Action string `json:"Action"`
	Actor  struct {
		ID         string            `json:"ID"`
		Attributes map[string]string `json:"Attributes"`
	} `json:"Actor"`
	Status   string `json:"status"`
	ID       string `json:"id"`
	From     string `json:"from"`
	Time     int64  `json:"time"`
	TimeNano int64  `json:"timeNano"`
}

// ParseEvent reads one event from data: a recording line (an object with "event"), a
// Docker event (with "Type"/"Action" or "status"), or an event as the
// daemon hands it to rules (with "engine").
func ParseEvent(data []byte, engine string) (*informer.Event, error) {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return nil, fmt.Errorf("the event is not one JSON object: %w", err)
	}
	has := func(k string) bool { _, ok := keys[k]; return ok }
	switch {
	case has("event"):
		var line RecordLine
		if err := json.Unmarshal(data, &line); err != nil || line.Event == nil {
			return nil, fmt.Errorf("a recording line without an event: %v", err)
		}
		return line.Event, nil
	case has("baseline"):
		return nil, errors.New("this recording line is an engine's first list, not an event")
	case has("Type") || has("Action") || has("status"):
		var m dockerEvent
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("a Docker event: %w", err)
		}
		return fromDockerEvent(&m, engine)
	case has("engine") && has("type"):
		ev := &informer.Event{}
		if err := json.Unmarshal(data, ev); err != nil {
			return nil, err
		}
		return ev, nil
	}
	return nil, errors.New(`not an event: want a Docker event (Type, Action, Actor), a recording line ("event"), or an event as rules see it ("engine", "type")`)
}

// dockerAttributes are the attributes Docker adds to a container event on
// top of its labels (as the informer reads them).
var dockerAttributes = map[string]bool{
	"name": true, "image": true, "exitCode": true, "signal": true, "oldName": true,
	"execID": true, "execDuration": true, "container": true,
}

// fromDockerEvent makes the event the rules would see of m on engine, its
// container built from the attributes.
func fromDockerEvent(m *dockerEvent, engine string) (*informer.Event, error) {
	typ, action, actor := m.Type, m.Action, m.Actor.ID
	if typ == "" {
		typ = informer.TypeContainer // API < 1.22 sent container events only
	}
	if action == "" {
		action = m.Status
	}
	if actor == "" {
		actor = m.ID
	}
	if action == "" {
		return nil, errors.New("the Docker event has no Action (nor status)")
	}
	attrs := m.Actor.Attributes
	if attrs == nil {
		attrs = map[string]string{}
	}
	nano := m.TimeNano
	if nano == 0 {
		nano = m.Time * int64(time.Second)
	}
	ev := &informer.Event{
		ID: informer.MakeID(engine, nano, actor, action, false), Engine: engine, Type: typ, Action: action,
		ActorID: actor, Attributes: attrs, Time: time.Unix(0, nano),
	}
	if typ != informer.TypeContainer {
		return ev, nil
	}
	image := attrs["image"]
	if image == "" {
		image = m.From
	}
	c := &informer.Container{ID: actor, Engine: engine, Name: strings.TrimPrefix(attrs["name"], "/"), Image: image,
		Labels: map[string]string{}, State: stateAfter(action)}
	for k, v := range attrs {
		if !dockerAttributes[k] {
			c.Labels[k] = v
		}
	}
	if code, err := strconv.Atoi(attrs["exitCode"]); err == nil {
		c.ExitCode = code
	}
	if s, ok := strings.CutPrefix(action, "health_status:"); ok {
		c.Health = strings.TrimSpace(s)
	}
	ev.Container = c
	return ev, nil
}

// stateAfter is the state a container is in after a container action.
func stateAfter(action string) string {
	switch action {
	case "create":
		return informer.StateCreated
	case "die", "stop":
		return informer.StateExited
	case "pause":
		return informer.StatePaused
	case "destroy":
		return informer.StateGone
	}
	return informer.StateRunning
}
