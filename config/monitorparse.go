package config

import (
	"fmt"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"text/template"

	"go.yaml.in/yaml/v3"
)

// monitorFields are the keys of a monitor.
func monitorFields() []string {
	return []string{"name", MonitorTCP, MonitorHTTP, MonitorExec, "targets", "interval", "timeout", "failures", "successes", "start_period"}
}

func (m Monitor) namePos() (string, Pos) { return m.Name, m.Pos }

// monitorNodes keeps the nodes of the fields checked once the whole monitor
// is read.
type monitorNodes struct {
	name, kind, targets, timeout *yaml.Node
	// usesTarget is true when the check names its target (a tcp port, an
	// http URL with {{.Address}} or {{.Port}}).
	usesTarget bool
}

// monitors checks monitors: and returns the monitors. engines are the names
// of the engines of cluster:, for from_engine.
func (p *parser) monitors(n *yaml.Node, engines []string) []Monitor {
	return ruleList(p, n, "monitors", "monitor", func(item *yaml.Node, field string, index int) (Monitor, *yaml.Node, bool) {
		m, nodes, ok := p.monitor(item, field, index, engines)
		return m, nodes.name, ok
	})
}

// monitor checks the index-th monitor, item, of monitors:.
func (p *parser) monitor(item *yaml.Node, field string, index int, engines []string) (Monitor, monitorNodes, bool) {
	m := Monitor{
		Name:      fmt.Sprintf("monitor-%d", index+1),
		Interval:  DefaultMonitorInterval,
		Failures:  DefaultMonitorFailures,
		Successes: DefaultMonitorSuccesses,
	}
	if p.file != "" {
		m.Dir = filepath.Dir(p.file)
	}
	var nodes monitorNodes
	pairs, v, pos, ok := p.ruleMapping(item, field, "a monitor (a mapping with name:, one of tcp:, http:, exec:, and targets:)")
	if !ok {
		return m, nodes, false
	}
	m.Pos = pos
	nerrs := len(p.errs)
	timeoutSet := false
	for _, kv := range pairs {
		f := field + "." + kv.name
		switch kv.name {
		case "name":
			nodes.name = kv.key
			if s := p.ruleName(kv.val, f); s != "" {
				if msg := checkMonitorName(s); msg != "" {
					p.errorf(p.value(kv.val), f, "%s", msg)
				}
				m.Name = s
			}
		case MonitorTCP, MonitorHTTP, MonitorExec:
			if nodes.kind != nil {
				p.errorf(kv.key, f, "a monitor has one kind: %s is set already", m.Kind)
				continue
			}
			nodes.kind, m.Kind = kv.key, kv.name
			switch kv.name {
			case MonitorTCP:
				m.TCP, nodes.usesTarget = p.tcpCheck(kv.val, f)
			case MonitorHTTP:
				m.HTTP, nodes.usesTarget = p.httpCheck(kv.val, f)
			case MonitorExec:
				m.Exec = p.execCheck(kv.val, f)
			}
		case "targets":
			nodes.targets = kv.key
			m.Targets = p.monitorTargets(kv.val, f, engines)
		case "interval":
			if p.optDuration(kv.val, f, MinMonitorInterval, &m.Interval) {
				continue
			}
		case "timeout":
			if p.optDuration(kv.val, f, 0, &m.Timeout) {
				timeoutSet, nodes.timeout = true, p.resolve(kv.val)
				if m.Timeout == 0 {
					p.errorf(nodes.timeout, f, "must be positive, got 0s")
				}
			}
		case "failures", "successes":
			if c, cv, ok := p.integer(kv.val, f); ok {
				if c < 1 {
					p.errorf(cv, f, "must be at least 1, got %d", c)
				} else if kv.name == "failures" {
					m.Failures = c
				} else {
					m.Successes = c
				}
			}
		case "start_period":
			p.optDuration(kv.val, f, 0, &m.StartPeriod)
		default:
			p.unknownField(kv, field, monitorFields())
		}
	}
	if !timeoutSet {
		m.Timeout = min(DefaultMonitorTimeout, m.Interval)
	} else if m.Timeout > m.Interval {
		p.errorf(nodes.timeout, field+".timeout", "must not be more than interval (%s), got %s", m.Interval, m.Timeout)
	}
	if len(p.errs) == nerrs {
		p.checkMonitorTargets(&m, nodes, v, field)
	}
	return m, nodes, len(p.errs) == nerrs
}

// checkMonitorTargets reports a monitor without a kind, and targets that do
// not fit its check.
func (p *parser) checkMonitorTargets(m *Monitor, nodes monitorNodes, v *yaml.Node, field string) {
	hasTargets := len(m.Targets.Addresses) > 0 || m.Targets.Containers
	switch {
	case nodes.kind == nil:
		p.errorf(v, field, "has no check: set one of tcp:, http: or exec:")
	case m.TCP != nil && m.TCP.Address != "" && nodes.targets != nil:
		p.errorf(nodes.targets, field+".targets", "tcp: {address} is the monitor's one target: use tcp: {port} to check targets")
	case nodes.usesTarget && !hasTargets && nodes.targets == nil:
		what := "tcp: {port}"
		if m.HTTP != nil {
			what = "the url's {{.Address}}"
		}
		p.errorf(v, field+".targets", "is required: %s needs targets, fixed addresses or a selector of containers such as {from_container: \"db-*\"}", what)
	case m.HTTP != nil && !nodes.usesTarget && nodes.targets != nil:
		p.errorf(nodes.targets, field+".targets", "the url names no {{.Address}}: every target would check the same URL")
	}
}

// checkMonitorName returns what is wrong with a monitor's name, or "".
func checkMonitorName(s string) string {
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-' || r == '.') {
			return fmt.Sprintf("invalid monitor name %q: want letters, digits, '_', '-' and '.'", s)
		}
	}
	return ""
}

// tcpCheck checks tcp: {port} or {address}; usesTarget is true for port.
func (p *parser) tcpCheck(n *yaml.Node, field string) (*TCPCheck, bool) {
	pairs, v, ok := p.mapping(n, field, "a mapping with port: or address:")
	if !ok {
		return nil, false
	}
	c := &TCPCheck{}
	for _, kv := range pairs {
		f := field + "." + kv.name
		switch kv.name {
		case "port":
			c.Port = p.port(kv.val, f)
		case "address":
			s, sv, _ := p.str(kv.val, f)
			if sv == nil {
				continue
			}
			if msg := checkHostPort(s); msg != "" {
				p.errorf(sv, f, "%s", msg)
			}
			c.Address = s
		default:
			p.unknownField(kv, field, []string{"port", "address"})
		}
	}
	if len(pairs) == 0 {
		p.errorf(orNode(v, n), field, "set port: (of each target) or address: (host:port)")
	} else if c.Port != 0 && c.Address != "" {
		p.errorf(orNode(v, n), field, "set port: or address:, not both")
	}
	return c, c.Port != 0
}

// port checks a port number, 1 to 65535.
func (p *parser) port(n *yaml.Node, field string) int {
	c, cv, ok := p.integer(n, field)
	if !ok {
		return 0
	}
	if c < 1 || c > 65535 {
		p.errorf(cv, field, "port %d out of range 1-65535", c)
		return 0
	}
	return c
}

// checkHostPort returns what is wrong with a host:port address, or "".
func checkHostPort(s string) string {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Sprintf("invalid address %q: want host:port, as in 10.0.0.5:3306", s)
	}
	if host == "" {
		return fmt.Sprintf("invalid address %q: the host is empty", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Sprintf("invalid address %q: port %q is not a number from 1 to 65535", s, port)
	}
	return ""
}

// orNode returns v, or n when v is nil (null).
func orNode(v, n *yaml.Node) *yaml.Node {
	if v != nil {
		return v
	}
	return n
}

// httpFields are the keys of a monitor's http:.
func httpFields() []string {
	return []string{"url", "method", "expect_status", "body_contains", "headers", "tls"}
}

// httpCheck checks http:; usesTarget is true when its url names the target.
func (p *parser) httpCheck(n *yaml.Node, field string) (*HTTPCheck, bool) {
	pairs, v, ok := p.mapping(n, field, "a mapping with url: and more")
	if !ok {
		return nil, false
	}
	c := &HTTPCheck{Method: "GET"}
	uses := false
	for _, kv := range pairs {
		f := field + "." + kv.name
		switch kv.name {
		case "url":
			s, sv, _ := p.str(kv.val, f)
			if sv != nil {
				c.URL = s
				var msg string
				uses, msg = checkURLTemplate(s)
				if msg != "" {
					p.errorf(sv, f, "%s", msg)
				}
			}
		case "method":
			s, sv, _ := p.str(kv.val, f)
			if sv != nil {
				c.Method = strings.ToUpper(strings.TrimSpace(s))
				if c.Method == "" || strings.ContainsFunc(c.Method, func(r rune) bool { return r < 'A' || r > 'Z' }) {
					p.errorf(sv, f, "invalid method %q: want a word such as GET or HEAD", s)
				}
			}
		case "expect_status":
			c.ExpectStatus = p.statusCodes(kv.val, f)
		case "body_contains":
			c.BodyContains, _, _ = p.str(kv.val, f)
		case "headers":
			c.Headers = p.stringMap(kv.val, f, nonEmptyKey)
		case "tls":
			c.TLS, _ = p.tls(kv.val, f)
		default:
			p.unknownField(kv, field, httpFields())
		}
	}
	if c.URL == "" {
		p.errorf(orNode(v, n), field+".url", "is required: the URL to request, such as http://{{.Address}}:8080/health")
	}
	return c, uses
}

// URLData is what a monitor's http url template is executed with; the
// monitor package fills it for each target. It lives here so that the
// config loader checks templates against the real fields.
type URLData struct {
	// Address is the target's address (a host or an IP).
	Address string
	// Name is the container's name, or the fixed address.
	Name string
	// Engine is the container's engine, "" for a fixed address.
	Engine string
	// PortMap maps a container port to the port it is reached at.
	PortMap func(int) int
}

// Port returns the port to reach the target's port p at (a published port,
// or p).
func (d URLData) Port(p int) int {
	if d.PortMap == nil {
		return p
	}
	return d.PortMap(p)
}

// checkURLTemplate parses a url template and tries it: uses is true when it
// names the target; msg says what is wrong, or is "".
func checkURLTemplate(s string) (uses bool, msg string) {
	t, err := template.New("url").Option("missingkey=error").Parse(s)
	if err != nil {
		return false, fmt.Sprintf("invalid url template %q: %v", s, err)
	}
	var b strings.Builder
	if err := t.Execute(&b, URLData{Address: "192.0.2.1", Name: "x"}); err != nil {
		return false, fmt.Sprintf("invalid url template %q: %v", s, err)
	}
	out := b.String()
	if !strings.HasPrefix(out, "http://") && !strings.HasPrefix(out, "https://") {
		return false, fmt.Sprintf("invalid url %q: want http:// or https://", s)
	}
	return strings.Contains(s, ".Address") || strings.Contains(s, ".Port") || strings.Contains(s, ".Name"), ""
}

// statusCodes checks expect_status: a status or a list of them, 100 to 599.
func (p *parser) statusCodes(n *yaml.Node, field string) []int {
	v := p.value(n)
	if v == nil {
		return nil
	}
	items, list := []*yaml.Node{n}, v.Kind == yaml.SequenceNode
	if list {
		items = v.Content
	}
	var out []int
	for i, it := range items {
		f := field
		if list {
			f = fmt.Sprintf("%s[%d]", field, i)
		}
		c, cv, ok := p.integer(it, f)
		if !ok {
			continue
		}
		if c < 100 || c > 599 {
			p.errorf(cv, f, "HTTP status %d out of range 100-599", c)
			continue
		}
		if !slices.Contains(out, c) {
			out = append(out, c)
		}
	}
	return out
}

// execCheck checks exec: {command}.
func (p *parser) execCheck(n *yaml.Node, field string) *ExecCheck {
	pairs, v, ok := p.mapping(n, field, "a mapping with command:")
	if !ok {
		return nil
	}
	c := &ExecCheck{}
	for _, kv := range pairs {
		switch kv.name {
		case "command":
			c.Command, _, _ = p.str(kv.val, field+".command")
		default:
			p.unknownField(kv, field, []string{"command"})
		}
	}
	if strings.TrimSpace(c.Command) == "" {
		p.errorf(orNode(v, n), field+".command", "is required: the program to run at each check")
	}
	return c
}

// monitorTargets checks targets: an address, a list of addresses, or a
// selector of containers with optional addresses:.
func (p *parser) monitorTargets(n *yaml.Node, field string, engines []string) MonitorTargets {
	var t MonitorTargets
	v := p.value(n)
	if v == nil {
		if !p.exhausted {
			p.errorf(n, field, "must not be empty: name addresses or a selector of containers")
		}
		return t
	}
	switch v.Kind {
	case yaml.ScalarNode, yaml.SequenceNode:
		t.Addresses = p.addresses(n, field)
	case yaml.MappingNode:
		var nodes selectorNodes
		for _, kv := range p.pairs(v, field) {
			f := field + "." + kv.name
			if p.selectorField(kv, f, engines, &t.Selector, &nodes) {
				t.Containers = true
				continue
			}
			if kv.name == "addresses" {
				t.Addresses = p.addresses(kv.val, f)
				continue
			}
			p.unknownField(kv, field, append(selectorFields(), "addresses"))
		}
		if !t.Containers && len(t.Addresses) == 0 {
			p.errorf(v, field, "must not be empty: name addresses or a selector of containers")
		}
	default:
		p.errorf(v, field, "expected an address, a list of addresses or a selector of containers, got %s", describe(v))
	}
	return t
}

// addresses checks a fixed target or a list of them: a host or host:port.
func (p *parser) addresses(n *yaml.Node, field string) []string {
	v := p.value(n)
	items, list := []*yaml.Node{n}, v != nil && v.Kind == yaml.SequenceNode
	if list {
		items = v.Content
	}
	var out []string
	for i, it := range items {
		f := field
		if list {
			f = fmt.Sprintf("%s[%d]", field, i)
		}
		s, sv, ok := p.str(it, f)
		if !ok || sv == nil {
			continue
		}
		s = strings.TrimSpace(s)
		switch {
		case s == "":
			p.errorf(sv, f, "empty address")
		case strings.ContainsAny(s, " /\t"):
			p.errorf(sv, f, "invalid address %q: want a host, or host:port", s)
		case strings.Contains(s, ":") && !strings.HasPrefix(s, "[") && strings.Count(s, ":") == 1:
			if msg := checkHostPort(s); msg != "" {
				p.errorf(sv, f, "%s", msg)
				continue
			}
			fallthrough
		default:
			if !slices.Contains(out, s) {
				out = append(out, s)
			}
		}
	}
	if list && len(items) == 0 {
		p.errorf(v, field, "must not be empty: name addresses or a selector of containers")
	}
	return out
}
