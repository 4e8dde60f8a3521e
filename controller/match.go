package controller

import (
	"slices"
	"strconv"
	"strings"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// matcher is a rule's filters compiled once, in New, so that matching, which
// runs for every event and every rule, allocates nothing.
//
// A rule matches an event when all its set filters match; an unset filter (an
// empty string, list or map) matches everything. A container filter that is set
// never matches an event without a container, such as engine_down.
type matcher struct {
	// anyType is true when the types include "*" or when no type is set.
	anyType bool
	// engineActions are the engine event actions wanted: engine_down, engine_up.
	engineActions []string
	// kinds are the container actions wanted, with an optional status.
	kinds []kindMatcher

	fromEngine    string // glob on Event.Engine
	fromContainer string // glob on Container.Name
	image         string // glob on Container.Image
	imageContains string // substring of Container.Image
	labels        []labelMatcher
	exitCodes     []int // for die events only

	// needsContainer is true when any container filter is set.
	needsContainer bool
}

// kindMatcher matches a container event by Event.Kind and, when status is not
// empty, Event.Status ("health_status:unhealthy").
type kindMatcher struct {
	kind, status string
}

// labelMatcher requires a container label; an empty value only requires the key.
type labelMatcher struct {
	key, value string
}

// compileMatcher compiles the filters of r. It normalizes types the way the
// config loader does (lower case, "tcp_disconnect" is "engine_down", spaces
// around ":" ignored), so a config built by hand matches like a loaded one.
func compileMatcher(r *config.Rule) matcher {
	m := matcher{
		anyType:       len(r.Types) == 0,
		fromEngine:    r.FromEngine,
		fromContainer: r.FromContainer,
		image:         r.Image,
		imageContains: r.ImageContains,
		exitCodes:     slices.Clone(r.ExitCodes),
	}
	for _, t := range r.Types {
		t = strings.ToLower(strings.TrimSpace(t))
		switch t {
		case config.TypeAll:
			m.anyType = true
		case config.TypeEngineDown, "tcp_disconnect":
			m.engineActions = append(m.engineActions, informer.ActionEngineDown)
		case config.TypeEngineUp:
			m.engineActions = append(m.engineActions, informer.ActionEngineUp)
		default:
			kind, status, _ := strings.Cut(t, ":")
			m.kinds = append(m.kinds, kindMatcher{kind: strings.TrimSpace(kind), status: strings.TrimSpace(status)})
		}
	}
	keys := make([]string, 0, len(r.Labels))
	for k := range r.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		m.labels = append(m.labels, labelMatcher{key: k, value: r.Labels[k]})
	}
	m.needsContainer = m.fromContainer != "" || m.image != "" || m.imageContains != "" ||
		len(m.labels) > 0 || len(m.exitCodes) > 0
	return m
}

// match reports whether ev passes every filter of m.
func (m *matcher) match(ev *informer.Event) bool {
	if !m.matchType(ev) {
		return false
	}
	if m.fromEngine != "" && !config.Match(m.fromEngine, ev.Engine) {
		return false
	}
	if !m.needsContainer {
		return true
	}
	c := ev.Container
	if c == nil {
		return false
	}
	if m.fromContainer != "" && !config.Match(m.fromContainer, c.Name) {
		return false
	}
	if m.image != "" && !config.Match(m.image, c.Image) {
		return false
	}
	if m.imageContains != "" && !strings.Contains(c.Image, m.imageContains) {
		return false
	}
	for _, l := range m.labels {
		v, ok := c.Labels[l.key]
		if !ok || (l.value != "" && v != l.value) {
			return false
		}
	}
	if len(m.exitCodes) > 0 && ev.Kind() == "die" {
		code, ok := exitCode(ev)
		if !ok || !slices.Contains(m.exitCodes, code) {
			return false
		}
	}
	return true
}

// matchType reports whether ev is of one of the types of m.
func (m *matcher) matchType(ev *informer.Event) bool {
	if m.anyType {
		return true
	}
	switch ev.Type {
	case informer.TypeEngine:
		return slices.Contains(m.engineActions, ev.Action)
	case informer.TypeContainer:
		if len(m.kinds) == 0 {
			return false
		}
		kind := ev.Kind()
		for _, k := range m.kinds {
			if k.kind == kind && (k.status == "" || k.status == ev.Status()) {
				return true
			}
		}
	}
	return false
}

// exitCode returns the exit code of a die event: the cached container's, which
// the informer took from the event (or from inspect for a die it synthesized),
// else the event's exitCode attribute. ok is false when neither is known.
func exitCode(ev *informer.Event) (code int, ok bool) {
	if ev.Container != nil {
		return ev.Container.ExitCode, true
	}
	s, ok := ev.Attributes["exitCode"]
	if !ok {
		return 0, false
	}
	code, err := strconv.Atoi(s)
	return code, err == nil
}
