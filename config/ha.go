package config

import (
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// Defaults and modes of ha:.
const (
	// DefaultHAPrefix is the etcd key prefix of ha: when etcd.prefix is left out.
	DefaultHAPrefix = "/eventsd/ha/"
	// DefaultHATTL is the session lease of ha: when ttl is left out.
	DefaultHATTL = 5 * time.Second
	// MinHATTL is the shortest ttl: etcd grants no lease shorter than its
	// election timeout allows, and the lease margin needs room.
	MinHATTL = 2 * time.Second
	// HAModeLeader runs handlers on one elected replica (the default).
	HAModeLeader = "leader"
	// HAModeShard shares the engines among the replicas.
	HAModeShard = "shard"
)

// HA is the ha: section: the replicas of one deployment coordinate through
// etcd (see docs/HA.md). A nil *HA means a single daemon.
type HA struct {
	// Etcd is the etcd cluster the replicas share.
	Etcd HAEtcd
	// TTL is the session lease of each replica, in whole seconds.
	TTL time.Duration
	// Mode is HAModeLeader or HAModeShard.
	Mode string
	// ID is this replica's name, ${VAR}-expanded (${HOSTNAME} by default).
	ID string
	// Pos is where ha: is declared; IDPos where its id is (zero when defaulted).
	Pos, IDPos Pos
}

// HAEtcd is the etcd of ha:.
type HAEtcd struct {
	// Endpoints are the http:// or https:// URLs of the etcd members.
	Endpoints []string
	// Prefix starts every key the replicas write; it ends with "/".
	Prefix string
	// TLS is the client TLS material, as for an engine; nil is plain
	// HTTP for http:// and the system's roots for https://.
	TLS *TLS
}

// haFields and haEtcdFields are the keys of ha: and of its etcd:.
func haFields() []string     { return []string{"etcd", "ttl", "mode", "id"} }
func haEtcdFields() []string { return []string{"endpoints", "prefix", "tls"} }

// ha checks ha: and returns it; nil when the section is null.
func (p *parser) ha(key, val *yaml.Node) *HA {
	pairs, v, ok := p.mapping(val, "ha", "a mapping with etcd:, ttl:, mode: and id:")
	if !ok || v == nil {
		return nil
	}
	h := &HA{TTL: DefaultHATTL, Mode: HAModeLeader, Pos: posOf(key)}
	etcdSet := false
	idSet := false
	for _, f := range pairs {
		ff := "ha." + f.name
		switch f.name {
		case "etcd":
			etcdSet = true
			h.Etcd = p.haEtcd(f.val, ff)
		case "ttl":
			h.TTL = p.haTTL(f.val, ff)
		case "mode":
			s, mv, good := p.str(f.val, ff)
			switch {
			case !good:
			case mv == nil || (s != HAModeLeader && s != HAModeShard):
				at := f.val
				if mv != nil {
					at = mv
				}
				p.errorf(at, ff, "expected %q or %q, got %s", HAModeLeader, HAModeShard, describe(p.value(f.val)))
			default:
				h.Mode = s
			}
		case "id":
			idSet = true
			h.ID, h.IDPos = p.haID(f.val, ff)
		default:
			p.unknownField(f, "ha", haFields())
		}
	}
	if !etcdSet {
		p.errorf(v, "ha.etcd", "is required: the etcd cluster the replicas share")
	}
	if !idSet {
		h.ID = hostname(p.lookup)
		if msg := checkReplicaID(h.ID); msg != "" {
			p.errorf(v, "ha.id", "is required here: the host name %q is not usable (%s)", h.ID, msg)
		}
	}
	return h
}

// haEtcd checks ha.etcd.
func (p *parser) haEtcd(n *yaml.Node, field string) HAEtcd {
	e := HAEtcd{Prefix: DefaultHAPrefix}
	pairs, v, ok := p.mapping(n, field, "a mapping with endpoints:, prefix: and tls:")
	if !ok {
		return e
	}
	if v == nil {
		p.errorf(n, field, "expected a mapping with endpoints:, got null")
		return e
	}
	var tlsKey *yaml.Node
	endpointsSet := false
	for _, f := range pairs {
		ff := field + "." + f.name
		switch f.name {
		case "endpoints":
			endpointsSet = true
			e.Endpoints = p.haEndpoints(f.val, ff)
		case "prefix":
			s, sv, good := p.str(f.val, ff)
			if !good {
				continue
			}
			if sv == nil {
				p.errorf(f.val, ff, `expected a key prefix such as "/eventsd/ha/", got null`)
				continue
			}
			s, good = p.expandAt(s, sv, ff)
			switch {
			case !good:
			case !strings.HasPrefix(s, "/") || strings.Contains(s, "//") || strings.ContainsAny(s, "\x00\n"):
				p.errorf(sv, ff, `must start with "/", without "//": a key prefix such as "/eventsd/ha/", got %q`, s)
			default:
				if !strings.HasSuffix(s, "/") {
					s += "/"
				}
				e.Prefix = s
			}
		case "tls":
			tlsKey = f.key
			e.TLS, _ = p.tls(f.val, ff)
		default:
			p.unknownField(f, field, haEtcdFields())
		}
	}
	if !endpointsSet {
		p.errorf(v, field+".endpoints", "is required: the URLs of the etcd members")
	}
	if e.TLS != nil {
		for _, ep := range e.Endpoints {
			if strings.HasPrefix(ep, "http://") {
				p.errorf(tlsKey, field+".tls", "TLS needs https:// endpoints, not %s", ep)
				break
			}
		}
	}
	return e
}

// haEndpoints checks the list of etcd endpoints.
func (p *parser) haEndpoints(n *yaml.Node, field string) []string {
	v, ok := p.expect(n, field, yaml.SequenceNode, "a list of URLs such as http://127.0.0.1:2379")
	if !ok {
		return nil
	}
	if v == nil || len(v.Content) == 0 {
		p.errorf(n, field, "at least one endpoint is required, as in [http://127.0.0.1:2379]")
		return nil
	}
	var out []string
	for i, item := range v.Content {
		fi := fmt.Sprintf("%s[%d]", field, i)
		s, sv, good := p.str(item, fi)
		if !good {
			continue
		}
		if sv == nil {
			p.errorf(item, fi, "expected a URL such as http://127.0.0.1:2379, got null")
			continue
		}
		if s, good = p.expandAt(s, sv, fi); !good {
			continue
		}
		if err := checkEtcdEndpoint(s); err != nil {
			p.errorf(sv, fi, "%v", err)
			continue
		}
		out = append(out, s)
	}
	return out
}

// checkEtcdEndpoint checks one etcd endpoint: http:// or https:// with a
// host and a port, nothing else.
func checkEtcdEndpoint(s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") {
		return fmt.Errorf("%q: want http://host:port or https://host:port", s)
	}
	if u.Hostname() == "" || u.Port() == "" {
		return fmt.Errorf("%q: want a host and a port, as in http://127.0.0.1:2379", s)
	}
	if (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.User != nil {
		return fmt.Errorf("%q: an etcd endpoint is scheme://host:port only", s)
	}
	return nil
}

// haTTL checks ha.ttl: whole seconds (etcd leases are), at least MinHATTL.
func (p *parser) haTTL(n *yaml.Node, field string) time.Duration {
	d, ok := p.duration(n, field)
	if !ok {
		return DefaultHATTL
	}
	v := p.value(n)
	switch {
	case d%time.Second != 0:
		p.errorf(v, field, "must be whole seconds (etcd leases are), got %s", v.Value)
	case d < MinHATTL:
		p.errorf(v, field, "must be at least %s, got %s", MinHATTL, v.Value)
	default:
		return d
	}
	return DefaultHATTL
}

// haID checks ha.id, expanding its variables; ${HOSTNAME} falls back to the
// system's host name, which shells set but seldom export.
func (p *parser) haID(n *yaml.Node, field string) (string, Pos) {
	s, v, ok := p.str(n, field)
	if !ok {
		return "", Pos{}
	}
	if v == nil {
		p.errorf(n, field, "expected a replica name such as ${HOSTNAME}, got null")
		return "", Pos{}
	}
	lookup := func(name string) (string, bool) {
		if val, ok := p.lookup(name); ok || name != "HOSTNAME" {
			return val, ok
		}
		return hostname(p.lookup), true
	}
	out, errs := expand(s, lookup)
	for _, err := range errs {
		p.errorf(v, field, "%v", err)
	}
	if len(errs) > 0 {
		return "", posOf(v)
	}
	if msg := checkReplicaID(out); msg != "" {
		p.errorf(v, field, "%s, got %q", msg, out)
	}
	return out, posOf(v)
}

// hostname returns $HOSTNAME, else the system's host name, "" when neither.
func hostname(lookup func(string) (string, bool)) string {
	if h, ok := lookup("HOSTNAME"); ok && h != "" {
		return h
	}
	h, _ := os.Hostname()
	return h
}

// checkReplicaID returns what is wrong with a replica name, or "": it is
// part of etcd keys and of the handlers' environment.
func checkReplicaID(id string) string {
	if id == "" {
		return "must not be empty"
	}
	if len(id) > 128 {
		return "must be at most 128 characters"
	}
	for _, c := range []byte(id) {
		if !(c == '-' || c == '_' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return "may only hold letters, digits, '-', '_' and '.'"
		}
	}
	return ""
}
