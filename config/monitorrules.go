package config

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// monitorNames returns the names of the monitors of monitors:.
func (p *parser) monitorNames() []string {
	names := make([]string, 0, len(p.monitorList))
	for _, m := range p.monitorList {
		names = append(names, m.Name)
	}
	return names
}

// fromMonitor checks a rule's from_monitor: a glob that must match a
// monitor of monitors:; without * or ? it must name one.
func (p *parser) fromMonitor(n *yaml.Node, field string) string {
	s, v, ok := p.str(n, field)
	if !ok || v == nil || s == "" {
		return s
	}
	if err := ValidGlob(s); err != nil {
		p.errorf(v, field, "invalid glob %q: %v", s, err)
		return s
	}
	names := p.monitorNames()
	if len(names) == 0 {
		p.errorf(v, field, "no monitor is configured: add monitors:")
		return s
	}
	if lit, ok := isLiteralGlob(s); ok {
		if !slices.Contains(names, lit) {
			p.errorf(v, field, "unknown monitor %q%s; monitors: %s", lit, didYouMean(lit, names), strings.Join(names, ", "))
		}
		return s
	}
	if !slices.ContainsFunc(names, func(m string) bool { return Match(s, m) }) {
		p.errorf(v, field, "%q matches no monitor; monitors: %s", s, strings.Join(names, ", "))
	}
	return s
}

// monitorTypeKind returns the kind of monitor that makes events of type t,
// "" for monitor_down and monitor_up (any kind) and for other types.
func monitorTypeKind(t string) string {
	switch t {
	case TypeTCPTimeout, TypeTCPRefused, TypeTCPOK:
		return MonitorTCP
	case TypeHTTPError, TypeHTTPOK:
		return MonitorHTTP
	case TypeExecFailed, TypeExecOK:
		return MonitorExec
	}
	return ""
}

// checkMonitorFilters reports from_monitor: on a rule without a monitor
// type (it would never match), monitor types with no monitor configured,
// and a kind's type (tcp_timeout) that no monitor from_monitor matches makes.
func (p *parser) checkMonitorFilters(r *Rule, nodes ruleNodes, field string) {
	var monTypes []string
	for _, t := range r.Types {
		if IsMonitorType(t) {
			monTypes = append(monTypes, t)
		}
	}
	if nodes.fromMonitor != nil && r.FromMonitor != "" && len(monTypes) == 0 && !r.HasType(TypeAll) {
		p.errorf(nodes.fromMonitor, field+".from_monitor", "never matches: add a monitor event type to type (%s)", strings.Join(MonitorTypes(), ", "))
		return
	}
	if len(monTypes) == 0 {
		return
	}
	if len(p.monitorList) == 0 {
		p.errorf(nodes.typ, field+".type", "%s: no monitor is configured: add monitors:", strings.Join(monTypes, ", "))
		return
	}
	for _, t := range monTypes {
		kind := monitorTypeKind(t)
		if kind == "" {
			continue
		}
		if !slices.ContainsFunc(p.monitorList, func(m Monitor) bool {
			return m.Kind == kind && (r.FromMonitor == "" || Match(r.FromMonitor, m.Name))
		}) {
			p.errorf(nodes.typ, field+".type", "%s never matches: no %s monitor%s", t, kind, fromMonitorHint(r.FromMonitor))
		}
	}
}

// fromMonitorHint says which monitors were looked at.
func fromMonitorHint(glob string) string {
	if glob == "" {
		return " is configured"
	}
	return fmt.Sprintf(" matches from_monitor %q", glob)
}

// stateMonitors checks a state rule's monitors: a mapping of monitor names
// to a result (up, down, starting) or a list of results.
func (p *parser) stateMonitors(n *yaml.Node, field string) map[string][]string {
	pairs, v, ok := p.mapping(n, field, "a mapping of monitor names to results, such as {mysql: down}")
	if !ok || v == nil {
		return nil
	}
	if len(pairs) == 0 {
		p.errorf(v, field, "must not be empty: leave monitors out to select containers whatever their monitors say")
		return nil
	}
	out := make(map[string][]string, len(pairs))
	names := p.monitorNames()
	for _, kv := range pairs {
		f := field + "." + kv.name
		i := slices.IndexFunc(p.monitorList, func(m Monitor) bool { return m.Name == kv.name })
		if i < 0 {
			if len(names) == 0 {
				p.errorf(kv.key, f, "unknown monitor %q: no monitor is configured, add monitors:", kv.name)
			} else {
				p.errorf(kv.key, f, "unknown monitor %q%s; monitors: %s", kv.name, didYouMean(kv.name, names), strings.Join(names, ", "))
			}
			continue
		}
		if !p.monitorList[i].Targets.Containers {
			p.errorf(kv.key, f, "never matches: monitor %q checks no containers (its targets have no selector)", kv.name)
			continue
		}
		var results []string
		add := func(s string, at *yaml.Node, ff string) {
			r := strings.ToLower(strings.TrimSpace(s))
			if !slices.Contains(MonitorResults(), r) {
				p.errorf(at, ff, "unknown monitor result %q%s; valid results: %s", s, didYouMean(r, MonitorResults()), strings.Join(MonitorResults(), ", "))
				return
			}
			if !slices.Contains(results, r) {
				results = append(results, r)
			}
		}
		rv := p.value(kv.val)
		switch {
		case rv == nil:
			p.errorf(kv.key, f, "expected a result (%s), got null", strings.Join(MonitorResults(), ", "))
		case rv.Kind == yaml.SequenceNode:
			for j, it := range rv.Content {
				if s, sv, ok := p.str(it, fmt.Sprintf("%s[%d]", f, j)); ok && sv != nil {
					add(s, sv, fmt.Sprintf("%s[%d]", f, j))
				}
			}
		default:
			if s, sv, ok := p.str(kv.val, f); ok && sv != nil {
				add(s, sv, f)
			}
		}
		if len(results) > 0 {
			out[kv.name] = results
		}
	}
	return out
}
