package config

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// selectorFields are the keys of a Selector, which event and state rules share.
func selectorFields() []string {
	return []string{"from_engine", "from_container", "image_contains", "image", "labels"}
}

// actionFields are the keys of an Action, which event and state rules share.
func actionFields() []string { return []string{"command", "log", "timeout", "retry", "env"} }

// defaultAction is the Action of a rule that sets none of its fields.
func defaultAction() Action {
	return Action{
		Timeout: DefaultTimeout,
		Retry:   Retry{MaxAttempts: DefaultMaxAttempts, Backoff: DefaultBackoff, MaxBackoff: DefaultMaxBackoff},
	}
}

// selectorNodes keeps the key nodes of the container filters a rule sets,
// for the checks made once the whole rule is read.
type selectorNodes struct {
	fromContainer, image, imageContains, labels *yaml.Node
}

// selectorField reads kv into s when kv is a key of a Selector, and reports
// whether it is. field is the path of kv; engines are the names of the
// engines of cluster:, for from_engine.
func (p *parser) selectorField(kv pair, field string, engines []string, s *Selector, nodes *selectorNodes) bool {
	switch kv.name {
	case "from_engine":
		s.FromEngine = p.fromEngine(kv.val, field, engines)
	case "from_container":
		nodes.fromContainer = kv.key
		s.FromContainer = p.glob(kv.val, field)
	case "image":
		nodes.image = kv.key
		s.Image = p.glob(kv.val, field)
	case "image_contains":
		nodes.imageContains = kv.key
		s.ImageContains, _, _ = p.str(kv.val, field)
	case "labels":
		nodes.labels = kv.key
		s.Labels = p.stringMap(kv.val, field, nonEmptyKey)
	default:
		return false
	}
	return true
}

// actionField reads kv into a when kv is a key of an Action, and reports
// whether it is. reserved are the variables the daemon sets for the rule's
// handlers, which env: may not set (nor ENGINE_<NAME> of engines).
func (p *parser) actionField(kv pair, field string, engines, reserved []string, a *Action) bool {
	switch kv.name {
	case "command":
		a.Command, _, _ = p.str(kv.val, field)
	case "log":
		a.Log, _, _ = p.str(kv.val, field)
	case "timeout":
		if p.value(kv.val) != nil { // null: the default
			if d, ok := p.duration(kv.val, field); ok {
				a.Timeout = d
			}
		}
	case "retry":
		a.Retry = p.retry(kv.val, field)
	case "env":
		a.Env = p.stringMap(kv.val, field, func(k string) string { return checkEnvName(k, reserved, engines) })
	case "webhook": // event rules only: state rules refuse it first
		a.Webhook = p.webhook(kv.val, field)
	default:
		return false
	}
	return true
}

// retryFields are the keys of a rule's retry:.
func retryFields() []string {
	return []string{"max_attempts", "backoff", "max_backoff", "permanent_exit_codes"}
}

// reservedEnv returns the variables the daemon sets for every handler,
// which a rule's env: may not override (nor ENGINE_<NAME> of an engine).
func reservedEnv() []string {
	return []string{
		"FROM_ENGINE", "FROM_CONTAINER", "FROM_ENGINE_URL",
		"EVENT_TYPE", "EVENT_ACTION", "EVENT_ID", "EVENT_TIME", "EVENT_ATTEMPT", "EVENT_SYNTHETIC",
		"CONTAINER_ID", "CONTAINER_IMAGE", "CONTAINER_EXIT_CODE", "EVENTSD_RULE",
		"EVENT_OBJECT", "EVENT_ACTOR_ID", "EVENT_ACTOR_NAME",
		"EVENTSD_FAILED_EXIT_CODE", "EVENTSD_FAILED_OUTPUT",
		"MONITOR_NAME", "MONITOR_TARGET", "MONITOR_ERROR", "MONITOR_FAILURES", "MONITOR_ADDRESS",
	}
}

// fromEngine checks from_engine: a glob that must match an engine of
// cluster:; without * or ? it must name one.
func (p *parser) fromEngine(n *yaml.Node, field string, engines []string) string {
	s, v, ok := p.str(n, field)
	if !ok || v == nil || s == "" {
		return s
	}
	if err := ValidGlob(s); err != nil {
		p.errorf(v, field, "invalid glob %q: %v", s, err)
		return s
	}
	if len(engines) == 0 || p.openCluster {
		return s // cluster: is broken (reported already), or discovery adds engines.
	}
	if lit, ok := isLiteralGlob(s); ok {
		if !slices.Contains(engines, lit) {
			p.errorf(v, field, "unknown engine %q%s; engines: %s", lit, didYouMean(lit, engines), strings.Join(engines, ", "))
		}
		return s
	}
	if !slices.ContainsFunc(engines, func(e string) bool { return Match(s, e) }) {
		p.errorf(v, field, "%q matches no engine; engines: %s", s, strings.Join(engines, ", "))
	}
	return s
}

// glob returns the glob in n, checked.
func (p *parser) glob(n *yaml.Node, field string) string {
	s, v, ok := p.str(n, field)
	if !ok || v == nil {
		return s
	}
	if err := ValidGlob(s); err != nil {
		p.errorf(v, field, "invalid glob %q: %v", s, err)
	}
	return s
}

// exitCodes checks exit_code: an integer or a list of integers, 0 to 255.
func (p *parser) exitCodes(n *yaml.Node, field string) []int {
	v := p.value(n)
	if v == nil {
		if !p.exhausted {
			p.errorf(n, field, "expected an exit code or a list of exit codes, got null")
		}
		return nil
	}
	items := []*yaml.Node{n}
	list := v.Kind == yaml.SequenceNode
	if list {
		if len(v.Content) == 0 {
			p.errorf(v, field, "must not be empty: leave exit_code out to match every exit code")
			return nil
		}
		items = v.Content
	}
	var codes []int
	for i, it := range items {
		f := field
		if list {
			f = fmt.Sprintf("%s[%d]", field, i)
		}
		c, cv, ok := p.integer(it, f)
		if !ok {
			continue
		}
		if c < 0 || c > 255 {
			p.errorf(cv, f, "exit code %d out of range 0-255", c)
			continue
		}
		if !slices.Contains(codes, c) {
			codes = append(codes, c)
		}
	}
	return codes
}

// retry checks a rule's retry: and fills in the defaults.
func (p *parser) retry(n *yaml.Node, field string) Retry {
	r := Retry{MaxAttempts: DefaultMaxAttempts, Backoff: DefaultBackoff, MaxBackoff: DefaultMaxBackoff}
	pairs, _, _ := p.mapping(n, field, "a mapping with max_attempts, backoff and max_backoff")
	var backoffSet, maxSet *yaml.Node
	for _, kv := range pairs {
		f := field + "." + kv.name
		if p.value(kv.val) == nil && slices.Contains(retryFields(), kv.name) {
			continue // null: the default
		}
		switch kv.name {
		case "max_attempts":
			if a, v, ok := p.integer(kv.val, f); ok {
				if a < 1 {
					p.errorf(v, f, "must be at least 1 (1 means no retry), got %d", a)
				} else {
					r.MaxAttempts = a
				}
			}
		case "backoff":
			if d, ok := p.duration(kv.val, f); ok {
				r.Backoff, backoffSet = d, p.resolve(kv.val)
			}
		case "max_backoff":
			if d, ok := p.duration(kv.val, f); ok {
				r.MaxBackoff, maxSet = d, p.resolve(kv.val)
			}
		case "permanent_exit_codes":
			r.PermanentExitCodes = p.permanentExitCodes(kv.val, f)
			r.PermanentPos = posOf(kv.key)
		default:
			p.unknownField(kv, field, retryFields())
		}
	}
	switch {
	case backoffSet != nil && maxSet != nil:
		if r.MaxBackoff < r.Backoff {
			p.errorf(maxSet, field+".max_backoff", "must not be less than backoff (%s), got %s", r.Backoff, r.MaxBackoff)
		}
	case backoffSet != nil:
		r.MaxBackoff = max(r.MaxBackoff, r.Backoff)
	case maxSet != nil:
		r.Backoff = min(r.Backoff, r.MaxBackoff)
	}
	return r
}

// permanentExitCodes checks retry.permanent_exit_codes: exit codes as for
// exit_code, but not 0, which is success.
func (p *parser) permanentExitCodes(n *yaml.Node, field string) []int {
	codes := p.exitCodes(n, field)
	if slices.Contains(codes, 0) {
		p.errorf(n, field, "0 is success, it is never retried: list failing exit codes (1-255)")
		codes = slices.DeleteFunc(codes, func(c int) bool { return c == 0 })
	}
	return codes
}

// checkFailureFields reports on_failure and permanent_exit_codes on a rule
// without a command: nothing of it can fail.
func (p *parser) checkFailureFields(r *Rule, onFailure *yaml.Node, field string) {
	if r.Command != "" {
		return
	}
	if onFailure != nil {
		p.errorf(onFailure, field+".on_failure", "needs a command: a rule without one never fails")
	}
	if len(r.Retry.PermanentExitCodes) > 0 {
		p.errorAt(r.Retry.PermanentPos.Line, r.Retry.PermanentPos.Col, field+".retry.permanent_exit_codes",
			"needs a command: a rule without one never fails")
	}
}
