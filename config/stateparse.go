package config

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// stateFields are the keys of a state rule.
func stateFields() []string {
	fields := append([]string{"name"}, selectorFields()...)
	fields = append(fields, "status", "trigger", "engine_down_grace", "debounce", "max_delay", "resync", "monitors")
	return append(fields, actionFields()...)
}

// reservedStateEnv returns the variables the daemon sets for every state
// handler, which a state rule's env: may not override (nor ENGINE_<NAME>).
func reservedStateEnv() []string {
	return []string{"EVENTSD_RULE", "EVENTSD_STATE_FILE", "STATE_COUNT", "STATE_HASH", "STATE_ATTEMPT"}
}

// stateNodes keeps the nodes of the fields checked once the whole state rule
// is read.
type stateNodes struct {
	name, debounce, maxDelay *yaml.Node
	selector                 selectorNodes
}

// stateRules checks state: and returns its rules. engines are the names of
// the engines of cluster:, for from_engine.
func (p *parser) stateRules(n *yaml.Node, engines []string) []StateRule {
	return ruleList(p, n, "state", "state rule", func(item *yaml.Node, field string, index int) (StateRule, *yaml.Node, bool) {
		r, nodes, ok := p.stateRule(item, field, index, engines)
		return r, nodes.name, ok
	})
}

// stateRule checks the index-th rule, item, of state:.
func (p *parser) stateRule(item *yaml.Node, field string, index int, engines []string) (StateRule, stateNodes, bool) {
	r := StateRule{
		Name:            fmt.Sprintf("state-%d", index+1),
		Trigger:         TriggerChanged,
		EngineDownGrace: DefaultEngineDownGrace,
		Action:          defaultAction(),
	}
	var nodes stateNodes
	pairs, v, pos, ok := p.ruleMapping(item, field, "a state rule (a mapping with a selector and a command)")
	if !ok {
		return r, nodes, false
	}
	r.Pos = pos

	nerrs := len(p.errs)
	for _, kv := range pairs {
		f := field + "." + kv.name
		if kv.name == "webhook" {
			p.errorf(kv.key, f, "webhooks are for event rules (events:) only: a state rule runs a command")
			continue
		}
		if p.selectorField(kv, f, engines, &r.Selector, &nodes.selector) || p.actionField(kv, f, engines, reservedStateEnv(), &r.Action) {
			continue
		}
		switch kv.name {
		case "name":
			nodes.name = kv.key
			if s := p.ruleName(kv.val, f); s != "" {
				r.Name = s
			}
		case "status":
			r.Status = p.statuses(kv.val, f)
		case "trigger":
			if t, ok := p.trigger(kv.val, f); ok {
				r.Trigger = t
			}
		case "engine_down_grace":
			p.optDuration(kv.val, f, 0, &r.EngineDownGrace)
		case "debounce":
			if p.optDuration(kv.val, f, 0, &r.Debounce) {
				nodes.debounce = p.resolve(kv.val)
			}
		case "max_delay":
			if p.optDuration(kv.val, f, time.Nanosecond, &r.MaxDelay) {
				nodes.maxDelay = p.resolve(kv.val)
			}
		case "resync":
			p.optDuration(kv.val, f, MinResync, &r.Resync)
		case "monitors":
			r.Monitors = p.stateMonitors(kv.val, f)
		default:
			p.unknownField(kv, field, stateFields())
		}
	}
	if pp := r.Retry.PermanentPos; len(r.Retry.PermanentExitCodes) > 0 {
		p.errorAt(pp.Line, pp.Col, field+".retry.permanent_exit_codes", "is for event rules: a state rule's failed run is retried until a newer set replaces it or max_attempts runs failed")
	}
	if nodes.maxDelay != nil && r.MaxDelay < r.Debounce {
		p.errorf(nodes.maxDelay, field+".max_delay", "must not be less than debounce (%s), got %s", r.Debounce, r.MaxDelay)
	}
	if len(p.errs) == nerrs && r.Command == "" && r.Log == "" {
		p.errorf(v, field, "has neither command nor log: it would do nothing")
	}
	return r, nodes, len(p.errs) == nerrs
}

// optDuration parses the duration n into *d when it is not null, and
// reports whether it did. A duration below least is an error: least 0 allows
// "0s", a positive least requires at least that much.
func (p *parser) optDuration(n *yaml.Node, field string, least time.Duration, d *time.Duration) bool {
	v := p.value(n)
	if v == nil {
		return false // null: the default
	}
	if v.Kind != yaml.ScalarNode {
		p.errorf(v, field, "expected a duration, got %s", describe(v))
		return false
	}
	got, err := time.ParseDuration(v.Value)
	switch {
	case err != nil:
		p.errorf(v, field, `invalid duration %q: want a number and a unit, as in "500ms", "30s" or "1m30s"`, v.Value)
		return false
	case got < 0:
		p.errorf(v, field, "must not be negative, got %s", v.Value)
		return false
	case least == time.Nanosecond && got == 0:
		p.errorf(v, field, "must be positive, got %s", v.Value)
		return false
	case got < least:
		p.errorf(v, field, "must be at least %s, got %s", least, v.Value)
		return false
	}
	*d = got
	return true
}

// trigger checks a state rule's trigger:.
func (p *parser) trigger(n *yaml.Node, field string) (string, bool) {
	s, v, ok := p.str(n, field)
	if !ok || v == nil {
		return "", false
	}
	t := strings.ToLower(strings.TrimSpace(s))
	if !slices.Contains(Triggers(), t) {
		p.errorf(v, field, "unknown trigger %q%s; valid triggers: %s", s, didYouMean(t, Triggers()), strings.Join(Triggers(), ", "))
		return "", false
	}
	return t, true
}

// statuses checks a state rule's status: a comma-separated string or a list
// of strings. It returns the normalized statuses without repeats.
func (p *parser) statuses(n *yaml.Node, field string) []string {
	const empty = "must not be empty: leave status out to select every status but unknown"
	v := p.value(n)
	if v == nil {
		if !p.exhausted {
			p.errorf(n, field, empty)
		}
		return nil
	}
	var out []string
	check := func(s string, line, col int, f string) {
		st := strings.ToLower(strings.TrimSpace(s))
		switch {
		case st == "":
			p.errorAt(line, col, f, "empty status")
		case !slices.Contains(Statuses(), st):
			p.errorAt(line, col, f, "unknown status %q%s; valid statuses: %s", strings.TrimSpace(s), didYouMean(st, Statuses()), strings.Join(Statuses(), ", "))
		case !slices.Contains(out, st):
			out = append(out, st)
		}
	}
	switch v.Kind {
	case yaml.ScalarNode:
		if strings.TrimSpace(v.Value) == "" {
			p.errorf(v, field, empty)
			return nil
		}
		off := 0
		for _, item := range strings.Split(v.Value, ",") {
			lead := len(item) - len(strings.TrimLeft(item, " \t"))
			line, col := p.scalarPos(v, off+lead, strings.TrimSpace(item))
			check(item, line, col, field)
			off += len(item) + 1
		}
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			p.errorf(v, field, empty)
			return nil
		}
		for i, it := range v.Content {
			f := fmt.Sprintf("%s[%d]", field, i)
			s, iv, ok := p.str(it, f)
			if !ok {
				continue
			}
			at := iv
			if at == nil {
				at = it
			}
			check(s, max(at.Line, 1), max(at.Column, 1), f)
		}
	default:
		p.errorf(v, field, "expected a comma-separated string or a list of statuses, got %s", describe(v))
	}
	return out
}

// checkEnvName returns what is wrong with the name k of a variable of a
// rule's env:, given the names the daemon sets (reserved and ENGINE_<NAME>
// of the engines), or "".
func checkEnvName(k string, reserved, engines []string) string {
	if !isEnvName(k) {
		return fmt.Sprintf("invalid variable name %q: want [A-Za-z_][A-Za-z0-9_]*", k)
	}
	if slices.Contains(reserved, k) {
		return fmt.Sprintf("%s is set by the daemon and cannot be overridden", k)
	}
	for _, e := range engines {
		if EngineEnvVar(e) == k {
			return fmt.Sprintf("%s is set by the daemon (URL of engine %q) and cannot be overridden", k, e)
		}
	}
	return ""
}
