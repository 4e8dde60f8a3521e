package config

import (
	"net"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// The kinds of discovery sources, as written in discovery: and as the
// EVENT_SOURCE of engine_added and engine_removed (with SourceConfig).
const (
	DiscoveryFile  = "file"
	DiscoveryEtcd  = "etcd"
	DiscoveryRedis = "redis"
	DiscoveryDNS   = "dns"
	// SourceConfig is the EVENT_SOURCE of an engine of cluster:.
	SourceConfig = "config"
)

// DefaultDNSInterval is how often a dns source re-resolves its SRV name
// when interval: is left out.
const DefaultDNSInterval = 30 * time.Second

// Discovery is one entry of discovery:: a source of engines added to the
// static cluster: while the daemon runs. Kind says which of File, Etcd,
// Redis and DNS is set.
type Discovery struct {
	// Kind is DiscoveryFile, DiscoveryEtcd, DiscoveryRedis or DiscoveryDNS.
	Kind string
	// File is the engines file of a file source, ${VAR}-expanded; a
	// relative path is taken from the config file's directory.
	File string
	// Etcd, Redis and DNS are the settings of the other kinds.
	Etcd  EtcdDiscovery
	Redis RedisDiscovery
	DNS   DNSDiscovery
	// Pos is where the entry is declared.
	Pos Pos
}

// EtcdDiscovery is an etcd source: every key under Prefix is an engine.
type EtcdDiscovery struct {
	// Endpoints are the etcd client URLs, http:// or https://.
	Endpoints []string
	// Prefix is the key prefix; the rest of a key is the engine's name.
	Prefix string
	// TLS is the client TLS material for https:// endpoints, as an
	// engine's tls:; nil means the system's roots.
	TLS *TLS
}

// RedisDiscovery is a Redis source: a hash whose fields are engine names.
type RedisDiscovery struct {
	// URL is the server, redis://, rediss:// or unix://, as go-redis parses it.
	URL string
	// Key is the hash.
	Key string
}

// DNSDiscovery is a DNS source: the targets of an SRV name.
type DNSDiscovery struct {
	// SRV is the full SRV name, such as _docker._tcp.example.internal.
	SRV string
	// Interval is how often it is resolved again (DefaultDNSInterval).
	Interval time.Duration
	// Resolver is the DNS server host:port to ask; "" is the system's.
	Resolver string
}

// Equal reports whether d and o describe the same source (positions apart).
func (d Discovery) Equal(o Discovery) bool {
	if d.Kind != o.Kind || d.File != o.File || d.Redis != o.Redis || d.DNS != o.DNS ||
		d.Etcd.Prefix != o.Etcd.Prefix || strings.Join(d.Etcd.Endpoints, "\n") != strings.Join(o.Etcd.Endpoints, "\n") {
		return false
	}
	a, b := d.Etcd.TLS, o.Etcd.TLS
	if (a == nil) != (b == nil) {
		return false
	}
	return a == nil || a.CA == b.CA && a.Cert == b.Cert && a.Key == b.Key && a.Verify == b.Verify
}

// discoveryKinds are the keys of an entry of discovery:.
func discoveryKinds() []string {
	return []string{DiscoveryFile, DiscoveryEtcd, DiscoveryRedis, DiscoveryDNS}
}

// discovery checks discovery:, a list of one-key mappings.
func (p *parser) discovery(n *yaml.Node) []Discovery {
	v, ok := p.expect(n, "discovery", yaml.SequenceNode, "a list of sources (file:, etcd:, redis: or dns:)")
	if v == nil || !ok {
		return nil
	}
	var out []Discovery
	for i, item := range v.Content {
		field := "discovery[" + strconv.Itoa(i) + "]"
		pairs, m, ok := p.mapping(item, field, "a mapping with one of file:, etcd:, redis:, dns:")
		if !ok {
			continue
		}
		if m == nil || len(pairs) == 0 {
			p.errorf(item, field, "expected one of file:, etcd:, redis:, dns:, got nothing")
			continue
		}
		if len(pairs) > 1 {
			p.errorf(pairs[1].key, joinField(field, pairs[1].name), "one source per entry: start another entry with -")
			continue
		}
		kv := pairs[0]
		d := Discovery{Kind: kv.name, Pos: posOf(kv.key)}
		f := field + "." + kv.name
		good := true
		switch kv.name {
		case DiscoveryFile:
			d.File, good = p.path(kv.val, f)
			if good && !filepath.IsAbs(d.File) && p.file != "" {
				d.File = filepath.Join(filepath.Dir(p.file), d.File)
			}
		case DiscoveryEtcd:
			d.Etcd, good = p.etcdDiscovery(kv, f)
		case DiscoveryRedis:
			d.Redis, good = p.redisDiscovery(kv, f)
		case DiscoveryDNS:
			d.DNS, good = p.dnsDiscovery(kv, f)
		default:
			p.unknownField(kv, field, discoveryKinds())
			good = false
		}
		if good {
			out = append(out, d)
		}
	}
	return out
}

// sourceMapping returns the pairs of a source's settings, which must be a
// mapping.
func (p *parser) sourceMapping(kv pair, field, what string) ([]pair, bool) {
	pairs, v, ok := p.mapping(kv.val, field, what)
	if ok && v == nil {
		p.errorf(kv.key, field, "expected %s, got null", what)
		return nil, false
	}
	return pairs, ok
}

// required records that the key of a source's settings is missing.
func (p *parser) required(at *yaml.Node, field string) {
	p.errorf(at, field, "is required")
}

func (p *parser) etcdDiscovery(kv pair, field string) (EtcdDiscovery, bool) {
	var e EtcdDiscovery
	pairs, ok := p.sourceMapping(kv, field, "a mapping with endpoints:, prefix: and tls:")
	if !ok {
		return e, false
	}
	var endpointsKey, tlsKey *yaml.Node
	for _, f := range pairs {
		ff := field + "." + f.name
		switch f.name {
		case "endpoints":
			endpointsKey = f.key
			list, good := p.expect(f.val, ff, yaml.SequenceNode, "a list of URLs such as http://127.0.0.1:2379")
			ok = ok && good
			if list == nil {
				continue
			}
			for i, item := range list.Content {
				s, good := p.endpoint(item, ff+"["+strconv.Itoa(i)+"]")
				ok = ok && good
				if good {
					e.Endpoints = append(e.Endpoints, s)
				}
			}
		case "prefix":
			s, v, good := p.str(f.val, ff)
			if good && (v == nil || s == "") {
				p.errorf(f.val, ff, "must not be empty: every key under it is an engine")
				good = false
			}
			e.Prefix = s
			ok = ok && good
		case "tls":
			tlsKey = f.key
			var good bool
			e.TLS, good = p.tls(f.val, ff)
			ok = ok && good
		default:
			p.unknownField(f, field, []string{"endpoints", "prefix", "tls"})
			ok = false
		}
	}
	if endpointsKey == nil {
		p.required(kv.key, field+".endpoints")
		ok = false
	} else if len(e.Endpoints) == 0 && ok {
		p.errorf(endpointsKey, field+".endpoints", "at least one endpoint is required")
		ok = false
	}
	if e.Prefix == "" && ok {
		p.required(kv.key, field+".prefix")
		ok = false
	}
	if e.TLS != nil {
		for _, ep := range e.Endpoints {
			if strings.HasPrefix(ep, "http://") {
				p.errorf(tlsKey, field+".tls", "TLS needs https:// endpoints, not %s", ep)
				ok = false
				break
			}
		}
	}
	return e, ok
}

// endpoint returns the etcd endpoint URL in n: http:// or https:// with a
// host and a port.
func (p *parser) endpoint(n *yaml.Node, field string) (string, bool) {
	s, v, ok := p.str(n, field)
	if !ok {
		return "", false
	}
	if v == nil {
		p.errorf(n, field, "expected a URL such as http://127.0.0.1:2379, got null")
		return "", false
	}
	if s, ok = p.expandAt(s, v, field); !ok {
		return "", false
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Hostname() == "" || u.Port() == "" {
		p.errorf(v, field, "%q: want http://host:port or https://host:port", s)
		return "", false
	}
	return s, true
}

func (p *parser) redisDiscovery(kv pair, field string) (RedisDiscovery, bool) {
	var r RedisDiscovery
	pairs, ok := p.sourceMapping(kv, field, "a mapping with url: and key:")
	if !ok {
		return r, false
	}
	for _, f := range pairs {
		ff := field + "." + f.name
		s, v, good := p.str(f.val, ff)
		if good && v != nil {
			s, good = p.expandAt(s, v, ff)
		}
		if good && s == "" {
			p.errorf(f.val, ff, "must not be empty")
			good = false
		}
		switch f.name {
		case "url":
			if good {
				if u, err := url.Parse(s); err != nil || (u.Scheme != "redis" && u.Scheme != "rediss" && u.Scheme != "unix") || (u.Scheme != "unix" && u.Host == "") {
					p.errorf(v, ff, "%q: want redis://host:port/db, rediss://host:port/db or unix:///path", s)
					good = false
				}
			}
			r.URL = s
		case "key":
			r.Key = s
		default:
			p.unknownField(f, field, []string{"url", "key"})
			good = false
		}
		ok = ok && good
	}
	for _, k := range []struct{ name, val string }{{"url", r.URL}, {"key", r.Key}} {
		if k.val == "" && ok {
			p.required(kv.key, field+"."+k.name)
			ok = false
		}
	}
	return r, ok
}

func (p *parser) dnsDiscovery(kv pair, field string) (DNSDiscovery, bool) {
	d := DNSDiscovery{Interval: DefaultDNSInterval}
	pairs, ok := p.sourceMapping(kv, field, "a mapping with srv:, interval: and resolver:")
	if !ok {
		return d, false
	}
	for _, f := range pairs {
		ff := field + "." + f.name
		switch f.name {
		case "srv":
			s, v, good := p.str(f.val, ff)
			if good && (v == nil || strings.Trim(s, ".") == "" || strings.ContainsAny(s, " /:")) {
				p.errorf(f.val, ff, "expected an SRV name such as _docker._tcp.example.internal")
				good = false
			}
			d.SRV = s
			ok = ok && good
		case "interval":
			var good bool
			d.Interval, good = p.duration(f.val, ff)
			ok = ok && good
		case "resolver":
			s, v, good := p.str(f.val, ff)
			if good {
				if _, port, err := net.SplitHostPort(s); v == nil || err != nil || port == "" {
					p.errorf(f.val, ff, "expected host:port of a DNS server, such as 127.0.0.1:53")
					good = false
				}
			}
			d.Resolver = s
			ok = ok && good
		default:
			p.unknownField(f, field, []string{"srv", "interval", "resolver"})
			ok = false
		}
	}
	if d.SRV == "" && ok {
		p.required(kv.key, field+".srv")
		ok = false
	}
	return d, ok
}

// hasDiscovery reports whether the root mapping has a discovery: with at
// least one entry, whatever its entries are worth: cluster: may then be
// left out, and from_engine may name engines the sources will give.
func (p *parser) hasDiscovery(n *yaml.Node) bool {
	v := p.resolve(n)
	return v != nil && v.Kind == yaml.SequenceNode && len(v.Content) > 0
}

// isEmptyCluster reports whether cluster: is missing, null or {}.
func (p *parser) isEmptyCluster(n *yaml.Node) bool {
	v := p.value(n)
	return v == nil || v.Kind == yaml.MappingNode && len(v.Content) == 0
}
