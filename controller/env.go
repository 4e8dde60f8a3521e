package controller

import (
	"bytes"
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// Variables the daemon sets for each handler run. Together with ENGINE_<NAME>
// they are reserved: a variable of the daemon's environment or of a rule's env:
// with one of these names is dropped, so that a handler can trust them.
const (
	envFromEngine        = "FROM_ENGINE"
	envFromEngineURL     = "FROM_ENGINE_URL"
	envFromContainer     = "FROM_CONTAINER"
	envEventType         = "EVENT_TYPE"
	envEventAction       = "EVENT_ACTION"
	envEventID           = "EVENT_ID"
	envEventTime         = "EVENT_TIME"
	envEventAttempt      = "EVENT_ATTEMPT"
	envEventSynthetic    = "EVENT_SYNTHETIC"
	envContainerID       = "CONTAINER_ID"
	envContainerImage    = "CONTAINER_IMAGE"
	envContainerExitCode = "CONTAINER_EXIT_CODE"
	envRule              = "EVENTSD_RULE"
	envEventObject       = "EVENT_OBJECT"
	envEventActorID      = "EVENT_ACTOR_ID"
	envEventActorName    = "EVENT_ACTOR_NAME"
	// envEventSource is the source of an engine_added or engine_removed
	// (config, file, etcd, redis, dns): the event's "source" attribute.
	envEventSource = "EVENT_SOURCE"

	// envPerEvent is the number of variables eventEnv appends at most.
	envPerEvent = 17 + envPerMonitor
)

// reservedEnv returns the set of names the daemon sets: the per-event
// variables and ENGINE_<NAME> of every engine.
func reservedEnv(engines []config.Engine) map[string]bool {
	r := map[string]bool{
		envFromEngine: true, envFromEngineURL: true, envFromContainer: true,
		envEventType: true, envEventAction: true, envEventID: true, envEventTime: true,
		envEventAttempt: true, envEventSynthetic: true,
		envContainerID: true, envContainerImage: true, envContainerExitCode: true,
		envRule: true, envEventObject: true, envEventActorID: true, envEventActorName: true,
		envEventSource:    true,
		envFailedExitCode: true, envFailedOutput: true,
	}
	for _, name := range monitorEnvNames() {
		r[name] = true
	}
	for _, e := range engines {
		r[engineVar(e.Name)] = true
	}
	return r
}

// engineVar returns the name of the variable that holds an engine's URL:
// ENGINE_ and the name upper-cased, every character but A-Z, 0-9 and _
// replaced by _ ("web-1" -> ENGINE_WEB_1).
func engineVar(name string) string {
	return "ENGINE_" + strings.Map(func(r rune) rune {
		if r >= 'a' && r <= 'z' {
			return r - 'a' + 'A'
		}
		if (r >= 'A' && r <= 'Z') || (r >= '0' && r <= '9') || r == '_' {
			return r
		}
		return '_'
	}, name)
}

// engineVars returns ENGINE_<NAME>=URL for every engine, in config order.
// When two names map to the same variable (web-1 and web.1), the first engine
// keeps it.
func engineVars(engines []config.Engine) []string {
	seen := make(map[string]bool, len(engines))
	out := make([]string, 0, len(engines))
	for _, e := range engines {
		v := engineVar(e.Name)
		if seen[v] {
			continue
		}
		seen[v] = true
		out = append(out, v+"="+e.URL)
	}
	return out
}

// baseEnv returns the part of a rule's handler environment that is the same
// for every event, computed once per rule: the daemon's environ without the
// reserved names and the names the rule sets, then the rule's env: sorted by
// name without the reserved names, then ENGINE_<NAME> of every engine.
//
// Precedence, highest first: the daemon-made variables (reserved), the rule's
// env:, the daemon's environment. A rule cannot override a daemon-made
// variable: a handler can always trust FROM_*, EVENT_*, CONTAINER_*,
// ENGINE_* and EVENTSD_RULE. The rule's names that were dropped for this
// reason are returned as shadowed, so that the caller can warn.
func baseEnv(environ []string, ruleEnv map[string]string, engVars []string, reserved map[string]bool) (env, shadowed []string) {
	env = make([]string, 0, len(environ)+len(ruleEnv)+len(engVars))
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if reserved[name] {
			continue
		}
		if _, ok := ruleEnv[name]; ok {
			continue
		}
		env = append(env, kv)
	}
	for _, name := range slices.Sorted(maps.Keys(ruleEnv)) {
		if reserved[name] {
			shadowed = append(shadowed, name)
			continue
		}
		env = append(env, name+"="+ruleEnv[name])
	}
	return append(env, engVars...), shadowed
}

// eventEnv returns base followed by the per-event variables of one attempt.
// Values go in as they are: a container named "$(touch x)" is the literal
// value of FROM_CONTAINER, and the shell never interprets it unless the
// handler's script does.
func eventEnv(base []string, ruleName string, ev *informer.Event, engineURL string, attempt int) []string {
	env := make([]string, 0, len(base)+envPerEvent)
	env = append(env, base...)
	var name, id, image string
	if c := ev.Container; c != nil {
		name, id, image = strings.TrimPrefix(c.Name, "/"), c.ID, c.Image
	} else if ev.Type != informer.TypeEngine && ev.Type != informer.TypeContainer {
		// Another kind: the container it names (network connect, volume mount), if any.
		id = ev.Attributes["container"]
	} else if ev.Type != informer.TypeEngine {
		name, id, image = strings.TrimPrefix(ev.Attributes["name"], "/"), ev.ActorID, ev.Attributes["image"]
	}
	if id == "" && (ev.Type == informer.TypeContainer || ev.Type == informer.TypeEngine) {
		id = ev.ActorID
	}
	synthetic := "0"
	if ev.Synthetic {
		synthetic = "1"
	}
	// EVENT_TYPE is the kind of object (Docker's event Type: container,
	// image, network, volume, daemon, plugin; engine for the daemon's own
	// engine_down / engine_up), as issue 10 names it; EVENT_OBJECT is the same
	// value, under the name it had first; the action is EVENT_ACTION.
	object := ev.Type
	if object == "" {
		object = informer.TypeContainer
	}
	env = append(env,
		envFromEngine+"="+ev.Engine,
		envFromEngineURL+"="+engineURL,
		envFromContainer+"="+name,
		envEventType+"="+object,
		envEventObject+"="+object,
		envEventAction+"="+ev.Action,
		envEventID+"="+ev.ID,
		envEventTime+"="+ev.Time.UTC().Format(time.RFC3339Nano),
		envEventAttempt+"="+strconv.Itoa(attempt),
		envEventSynthetic+"="+synthetic,
		envContainerID+"="+id,
		envContainerImage+"="+image,
	)
	if ev.Type != informer.TypeEngine && ev.Kind() == "die" {
		if code, ok := exitCode(ev); ok {
			env = append(env, envContainerExitCode+"="+strconv.Itoa(code))
		}
	}
	if ev.Type == informer.TypeEngine && (ev.Action == informer.ActionEngineAdded || ev.Action == informer.ActionEngineRemoved) {
		env = append(env, envEventSource+"="+ev.Attributes["source"])
	}
	if ev.Type != informer.TypeContainer && ev.Type != informer.TypeEngine {
		// Another kind (image, network...): its actor, which is no container.
		env = append(env, envEventActorID+"="+ev.ActorID, envEventActorName+"="+actorName(ev))
	}
	env = appendMonitorEnv(env, ev)
	return append(env, envRule+"="+ruleName)
}

// actorName returns the name of ev's actor: the "name" attribute (an image
// reference, a network's or a plugin's name), or the actor ID of a volume,
// whose ID is its name; without the leading / of a container name.
func actorName(ev *informer.Event) string {
	if n := ev.Attributes["name"]; n != "" {
		return strings.TrimPrefix(n, "/")
	}
	if ev.Type == informer.TypeVolume {
		return ev.ActorID
	}
	return ""
}

// stdinDoc is the JSON document a handler reads on stdin.
type stdinDoc struct {
	Rule      string              `json:"rule"`
	Event     stdinEvent          `json:"event"`
	Container *informer.Container `json:"container"`
	Engine    stdinEngine         `json:"engine"`
}

// stdinEvent is the event part of stdinDoc.
type stdinEvent struct {
	ID         string            `json:"id"`
	Engine     string            `json:"engine"`
	Type       string            `json:"type"`
	Action     string            `json:"action"`
	ActorID    string            `json:"actorId"`
	Attributes map[string]string `json:"attributes"`
	Time       string            `json:"time"`
	Synthetic  bool              `json:"synthetic"`
	// Monitor is what a monitor found, for monitor events only.
	Monitor *informer.MonitorResult `json:"monitor,omitempty"`
}

// stdinEngine is the engine part of stdinDoc.
type stdinEngine struct {
	Name   string            `json:"name"`
	URL    string            `json:"url"`
	Labels map[string]string `json:"labels"`
}

// stdinJSON returns the document a handler gets on stdin, one JSON object and
// a newline. Attributes and labels are {} rather than null when empty; the
// container is null for engine events. HTML characters are not escaped, so
// strings read as they were.
func stdinJSON(ruleName string, ev *informer.Event, engine *config.Engine) ([]byte, error) {
	doc := stdinDoc{
		Rule: ruleName,
		Event: stdinEvent{
			ID:         ev.ID,
			Engine:     ev.Engine,
			Type:       ev.Type,
			Action:     ev.Action,
			ActorID:    ev.ActorID,
			Attributes: nonNil(ev.Attributes),
			Time:       ev.Time.UTC().Format(time.RFC3339Nano),
			Synthetic:  ev.Synthetic,
			Monitor:    ev.Monitor,
		},
		Container: ev.Container,
		Engine:    stdinEngine{Name: ev.Engine, Labels: map[string]string{}},
	}
	if engine != nil {
		doc.Engine.URL = engine.URL
		doc.Engine.Labels = nonNil(engine.Labels)
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

// nonNil returns m, or an empty map when m is nil.
func nonNil(m map[string]string) map[string]string {
	if m == nil {
		return map[string]string{}
	}
	return m
}
