package controller

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// filter names the filter of a rule that an event failed: what check
// returns, filterNone when the event passed them all.
type filter uint8

const (
	filterNone filter = iota
	// filterObject: the event is of a kind the rule is not about (object:).
	filterObject
	filterType
	filterEngine
	// filterNoContainer: the rule filters on containers, the event has none.
	filterNoContainer
	filterFromContainer
	filterImage
	filterImageContains
	filterLabels
	filterExitCode
)

// filterFields are the config keys of the filters.
var filterFields = [...]string{
	filterNone: "", filterObject: "object", filterType: "type", filterEngine: "from_engine",
	filterNoContainer: "from_container", filterFromContainer: "from_container", filterImage: "image",
	filterImageContains: "image_contains", filterLabels: "labels", filterExitCode: "exit_code",
}

// RuleMatch is what Explain says of one event rule and one event.
type RuleMatch struct {
	// Rule is the rule's name.
	Rule string `json:"rule"`
	// Matched is set when the event passes every filter of the rule: it
	// fires (logs its log:, queues its command).
	Matched bool `json:"matched"`
	// Filter is the config key of the first filter that failed, in the
	// order the controller tries them: object, type, from_engine, then
	// from_container, image, image_contains, labels, exit_code.
	Filter string `json:"filter,omitempty"`
	// Reason says why that filter failed.
	Reason string `json:"reason,omitempty"`
}

// Explainer tells, for an event, which event rules of a config match it and,
// for the others, the first filter that failed: the controller's own
// matching (check), with words. State rules are not about single events and
// are not explained.
type Explainer struct {
	rules []*rule
}

// NewExplainer compiles the event rules of cfg as the controller does.
func NewExplainer(cfg *config.Config) *Explainer {
	return &Explainer{rules: compileRules(cfg, nil, nil).active}
}

// Explain returns what each event rule, in config order, does with ev.
func (x *Explainer) Explain(ev *informer.Event) []RuleMatch {
	out := make([]RuleMatch, len(x.rules))
	for i, r := range x.rules {
		f := r.match.check(ev)
		out[i] = RuleMatch{Rule: r.name, Matched: f == filterNone, Filter: filterFields[f]}
		if f != filterNone {
			out[i].Reason = r.match.reason(f, ev)
		}
	}
	return out
}

// reason says in words why ev failed the filter f of m.
func (m *matcher) reason(f filter, ev *informer.Event) string {
	s := &m.sel
	c := ev.Container
	switch f {
	case filterObject:
		return fmt.Sprintf("the event is about a %s; the rule is about %s", ev.Type, strings.Join(m.objects, ", "))
	case filterType:
		return fmt.Sprintf("%s %q is not one of the rule's types: %s", ev.Type, ev.Action, strings.Join(m.typeNames(), ", "))
	case filterEngine:
		return fmt.Sprintf("engine %q does not match %q", ev.Engine, s.fromEngine)
	case filterNoContainer:
		return "the event has no container; the rule filters on containers"
	}
	if ev.Type != informer.TypeContainer && ev.Type != informer.TypeEngine {
		return m.objectReason(f, ev)
	}
	switch f {
	case filterFromContainer:
		return fmt.Sprintf("container %q does not match %q", c.Name, s.fromContainer)
	case filterImage:
		return fmt.Sprintf("image %q does not match %q", c.Image, s.image)
	case filterImageContains:
		return fmt.Sprintf("image %q does not contain %q", c.Image, s.imageContains)
	case filterLabels:
		return labelReason(s.labels, c.Labels)
	case filterExitCode:
		code, ok := exitCode(ev)
		if !ok {
			return "the die event has no exit code"
		}
		return fmt.Sprintf("exit code %d is not one of %s", code, joinInts(m.exitCodes))
	}
	return ""
}

// typeNames returns the types of m as the config writes them.
func (m *matcher) typeNames() []string {
	out := slices.Clone(m.engineActions)
	for _, k := range m.kinds {
		if k.status != "" {
			out = append(out, k.kind+":"+k.status)
		} else {
			out = append(out, k.kind)
		}
	}
	return out
}

// objectReason is reason for an event of another kind than container.
func (m *matcher) objectReason(f filter, ev *informer.Event) string {
	s := &m.sel
	switch f {
	case filterExitCode:
		return "exit_code only applies to container die events"
	case filterFromContainer:
		if ev.Attributes["container"] == "" {
			return fmt.Sprintf("the %s event names no container", ev.Type)
		}
		return fmt.Sprintf("container %q does not match %q", ev.Attributes["container"], s.fromContainer)
	case filterImage, filterImageContains:
		if ev.Type != informer.TypeImage {
			return fmt.Sprintf("a %s event has no image", ev.Type)
		}
		if f == filterImage {
			return fmt.Sprintf("image %q does not match %q", ev.Attributes["name"], s.image)
		}
		return fmt.Sprintf("image %q does not contain %q", ev.Attributes["name"], s.imageContains)
	case filterLabels:
		return labelReason(s.labels, ev.Attributes)
	}
	return ""
}

// labelReason names the first label of want that have lacks or has with
// another value.
func labelReason(want []labelMatcher, have map[string]string) string {
	for _, l := range want {
		v, ok := have[l.key]
		switch {
		case !ok:
			return fmt.Sprintf("label %s is missing", l.key)
		case l.value != "" && v != l.value:
			return fmt.Sprintf("label %s is %q, want %q", l.key, v, l.value)
		}
	}
	return ""
}

func joinInts(v []int) string {
	s := make([]string, len(v))
	for i, n := range v {
		s[i] = strconv.Itoa(n)
	}
	return strings.Join(s, ", ")
}
