package config

import (
	"fmt"
	"slices"

	"go.yaml.in/yaml/v3"
)

// ruleFields are the keys of a rule.
func ruleFields() []string {
	fields := append([]string{"name", "type", "object"}, selectorFields()...)
	return append(append(fields, "exit_code", "cooldown", "from_monitor"), append(actionFields(), "webhook", "on_failure")...)
}

// ruleNodes keeps the key nodes of the fields that are checked against each
// other once the whole rule is read.
type ruleNodes struct {
	name, exitCode, onFailure, fromMonitor, typ *yaml.Node
	selector                                    selectorNodes
}

// rules checks events: and returns its rules. engines are the names of the
// engines of cluster:, for from_engine.
func (p *parser) rules(n *yaml.Node, engines []string) []Rule {
	return ruleList(p, n, "events", "rule", func(item *yaml.Node, field string, index int) (Rule, *yaml.Node, bool) {
		r, nodes, ok := p.rule(item, field, index, engines)
		return r, nodes.name, ok
	})
}

// rule checks the index-th rule, item, of events:.
func (p *parser) rule(item *yaml.Node, field string, index int, engines []string) (Rule, ruleNodes, bool) {
	r := Rule{Name: fmt.Sprintf("rule-%d", index+1), Action: defaultAction()}
	var nodes ruleNodes
	pairs, v, pos, ok := p.ruleMapping(item, field, "a rule (a mapping with type: and more)")
	if !ok {
		return r, nodes, false
	}
	r.Pos = pos

	nerrs := len(p.errs)
	var typesSet bool
	r.Objects = p.objectsOf(pairs, field)
	for _, kv := range pairs {
		f := field + "." + kv.name
		if p.selectorField(kv, f, engines, &r.Selector, &nodes.selector) || p.actionField(kv, f, engines, reservedEnv(), &r.Action) {
			continue
		}
		switch kv.name {
		case "name":
			nodes.name = kv.key
			if s := p.ruleName(kv.val, f); s != "" {
				r.Name = s
			}
		case "type":
			typesSet, nodes.typ = true, kv.key
			r.Types = p.typesFor(kv.val, f, r.Objects)
		case "object":
			// Read first, by objectsOf.
		case "exit_code":
			nodes.exitCode = kv.key
			r.ExitCodes = p.exitCodes(kv.val, f)
		case "on_failure":
			nodes.onFailure = kv.key
			r.OnFailure, _, _ = p.str(kv.val, f)
		case "cooldown":
			r.Cooldown = p.cooldown(kv.val, f)
		case "from_monitor":
			nodes.fromMonitor = kv.key
			r.FromMonitor = p.fromMonitor(kv.val, f)
		default:
			p.unknownField(kv, field, ruleFields())
		}
	}
	if !typesSet {
		p.errorf(v, field+".type", "is required: say which events the rule is for, such as die or *")
	}
	p.checkFilters(&r, nodes, field)
	p.checkFailureFields(&r, nodes.onFailure, field)
	p.checkObjectFilters(&r, nodes, field)
	p.checkMonitorFilters(&r, nodes, field)
	return r, nodes, len(p.errs) == nerrs
}

// checkFilters reports filters that can never match given the rule's types.
func (p *parser) checkFilters(r *Rule, nodes ruleNodes, field string) {
	if len(r.Types) == 0 {
		return
	}
	if nodes.exitCode != nil && !r.HasType("die") && !r.HasType(TypeAll) {
		p.errorf(nodes.exitCode, field+".exit_code", "exit_code only applies to die: add die (or *) to type")
	}
	if !slices.ContainsFunc(r.Types, func(t string) bool { return !isEngineType(t) }) {
		for _, f := range []struct {
			key  *yaml.Node
			name string
			set  bool
		}{
			{nodes.selector.fromContainer, "from_container", r.FromContainer != ""},
			{nodes.selector.image, "image", r.Image != ""},
			{nodes.selector.imageContains, "image_contains", r.ImageContains != ""},
			{nodes.selector.labels, "labels", len(r.Labels) > 0},
		} {
			if f.set {
				p.errorf(f.key, field+"."+f.name, "never matches: engine_down and engine_up events have no container (nor have engine_added and engine_removed)")
			}
		}
	}
}
