package controller

import (
	"slices"
	"strconv"
	"strings"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// matcher is an event rule's filters compiled once, in New, so that
// matching, which runs for every event and every rule, allocates nothing.
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

	// sel is the rule's selector, which state rules compile the same way.
	sel selectorMatcher
	// exitCodes are the exit codes wanted, for die events only.
	exitCodes []int

	// needsContainer is true when any container filter is set.
	needsContainer bool
	// objects are the kinds of events the rule is about (config.Rule.RuleObjects).
	objects []string
	// fromMonitor is a glob on the monitor of a monitor event
	// (matchmonitor.go).
	fromMonitor string
}

// selectorMatcher is a config.Selector compiled once: the filters on the
// engine and the container that event rules and state rules share.
type selectorMatcher struct {
	fromEngine    string // glob on the engine name
	fromContainer string // glob on Container.Name
	image         string // glob on Container.Image
	imageContains string // substring of Container.Image
	labels        []labelMatcher
	// containers is true when any filter on the container is set.
	containers bool
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

// compileSelectorMatcher compiles the filters of s, its labels sorted by key
// so that a mismatch is found in the same order every time.
func compileSelectorMatcher(s *config.Selector) selectorMatcher {
	m := selectorMatcher{
		fromEngine:    s.FromEngine,
		fromContainer: s.FromContainer,
		image:         s.Image,
		imageContains: s.ImageContains,
		containers:    s.HasContainerFilter(),
	}
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		m.labels = append(m.labels, labelMatcher{key: k, value: s.Labels[k]})
	}
	return m
}

// engine reports whether the selector matches the engine called name.
func (m *selectorMatcher) engine(name string) bool {
	return m.fromEngine == "" || config.Match(m.fromEngine, name)
}

// container reports whether c passes every container filter of m.
func (m *selectorMatcher) container(c *informer.Container) bool {
	return m.checkContainer(c) == filterNone
}

// checkContainer returns the first container filter of m that c fails,
// filterNone when it passes them all.
func (m *selectorMatcher) checkContainer(c *informer.Container) filter {
	if m.fromContainer != "" && !config.Match(m.fromContainer, c.Name) {
		return filterFromContainer
	}
	if m.image != "" && !config.Match(m.image, c.Image) {
		return filterImage
	}
	if m.imageContains != "" && !strings.Contains(c.Image, m.imageContains) {
		return filterImageContains
	}
	for _, l := range m.labels {
		v, ok := c.Labels[l.key]
		if !ok || (l.value != "" && v != l.value) {
			return filterLabels
		}
	}
	return filterNone
}

// compileMatcher compiles the filters of r. It normalizes types the way the
// config loader does (lower case, "tcp_disconnect" is "engine_down", spaces
// around ":" ignored), so a config built by hand matches like a loaded one.
func compileMatcher(r *config.Rule) matcher {
	m := matcher{
		anyType:   len(r.Types) == 0,
		sel:       compileSelectorMatcher(&r.Selector),
		exitCodes: slices.Clone(r.ExitCodes),
		objects:   r.RuleObjects(),

		fromMonitor: r.FromMonitor,
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
		case config.TypeEngineAdded, config.TypeEngineRemoved:
			m.engineActions = append(m.engineActions, t)
		default:
			kind, status, _ := strings.Cut(t, ":")
			m.kinds = append(m.kinds, kindMatcher{kind: strings.TrimSpace(kind), status: strings.TrimSpace(status)})
		}
	}
	m.needsContainer = m.sel.containers || len(m.exitCodes) > 0
	return m
}

// match reports whether ev passes every filter of m.
func (m *matcher) match(ev *informer.Event) bool { return m.check(ev) == filterNone }

// check returns the first filter of m that ev fails, in the order they are
// tried (kind of object, type, engine, then the container's or the actor's),
// filterNone when ev passes them all. Matching and explaining (explain.go)
// are this one function.
func (m *matcher) check(ev *informer.Event) filter {
	if ev.Type == informer.TypeMonitor {
		// Monitor events have filters of their own (matchmonitor.go);
		// explained as a whole, by their type.
		if m.matchMonitor(ev) {
			return filterNone
		}
		return filterType
	}
	if f := m.checkType(ev); f != filterNone {
		return f
	}
	if !m.sel.engine(ev.Engine) {
		return filterEngine
	}
	if ev.Type != informer.TypeContainer && ev.Type != informer.TypeEngine {
		return m.checkObject(ev)
	}
	if !m.needsContainer {
		return filterNone
	}
	c := ev.Container
	if c == nil {
		return filterNoContainer
	}
	if f := m.sel.checkContainer(c); f != filterNone {
		return f
	}
	if len(m.exitCodes) > 0 && ev.Kind() == "die" {
		code, ok := exitCode(ev)
		if !ok || !slices.Contains(m.exitCodes, code) {
			return filterExitCode
		}
	}
	return filterNone
}

// checkType returns filterObject when ev is of a kind the rule is not about,
// filterType when it is not of one of the types of m.
func (m *matcher) checkType(ev *informer.Event) filter {
	if ev.Type != informer.TypeEngine && !slices.Contains(m.objects, ev.Type) {
		return filterObject
	}
	if m.anyType {
		return filterNone
	}
	switch ev.Type {
	case informer.TypeEngine:
		if slices.Contains(m.engineActions, ev.Action) {
			return filterNone
		}
	default:
		kind := ev.Kind()
		for _, k := range m.kinds {
			if k.kind == kind && (k.status == "" || k.status == ev.Status()) {
				return filterNone
			}
		}
	}
	return filterType
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
