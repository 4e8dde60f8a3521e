package config

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"go.yaml.in/yaml/v3"
)

// engineFields are the keys of an engine in long form.
func engineFields() []string { return []string{"url", "tls", "labels"} }

// tlsFields are the keys of an engine's tls:.
func tlsFields() []string { return []string{"ca", "cert", "key", "verify"} }

// cluster checks cluster: (key is its key node, or where to report it
// missing) and returns the engines, plus the names of all engines with a
// valid name, valid or not otherwise, for rules to refer to.
func (p *parser) cluster(key, val *yaml.Node) ([]Engine, []string) {
	pairs, v, ok := p.mapping(val, "cluster", "a mapping of engine names to URLs")
	if !ok {
		return nil, nil
	}
	if len(pairs) == 0 {
		at := key
		if v != nil {
			at = v
		}
		p.errorf(at, "cluster", "at least one engine is required")
		return nil, nil
	}
	var engines []Engine
	var names []string
	envOwner := make(map[string]string) // ENGINE_X -> engine name
	for _, kv := range pairs {
		field := "cluster." + kv.name
		if msg := checkEngineName(kv.name); msg != "" {
			p.errorf(kv.key, field, "%s", msg)
			continue
		}
		names = append(names, kv.name)
		env := EngineEnvVar(kv.name)
		if other, dup := envOwner[env]; dup {
			p.errorf(kv.key, field, "engines %q and %q would both be $%s in handlers; rename one", other, kv.name, env)
		} else {
			envOwner[env] = kv.name
		}
		if e, ok := p.engine(kv, field); ok {
			engines = append(engines, e)
		}
	}
	return engines, names
}

// checkEngineName returns what is wrong with an engine name, or "".
func checkEngineName(name string) string {
	if name == "" {
		return "engine name must not be empty"
	}
	for _, c := range []byte(name) {
		if !(c == '-' || c == '_' || c == '.' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return "engine name may only hold letters, digits, '-', '_' and '.'"
		}
	}
	return ""
}

// EngineEnvVar returns the name of the environment variable that holds the
// URL of the engine called name in handlers: ENGINE_ and the name
// upper-cased, with every character other than a letter, a digit or _
// replaced by _ ("docker-1.prod" gives ENGINE_DOCKER_1_PROD).
func EngineEnvVar(name string) string {
	b := []byte("ENGINE_" + strings.ToUpper(name))
	for i, c := range b {
		if !(c == '_' || '0' <= c && c <= '9' || 'A' <= c && c <= 'Z') {
			b[i] = '_'
		}
	}
	return string(b)
}

// engine checks one engine, short (a URL) or long (a mapping) form.
func (p *parser) engine(kv pair, field string) (Engine, bool) {
	e := Engine{Name: kv.name, Pos: Pos{Line: kv.key.Line, Col: kv.key.Column}}
	v := p.value(kv.val)
	if v == nil {
		if !p.exhausted {
			p.errorf(kv.val, field, "expected a URL or a mapping with url:, got null")
		}
		return e, false
	}
	switch v.Kind {
	case yaml.ScalarNode:
		url, ok := p.url(kv.val, field)
		e.URL = url
		return e, ok
	case yaml.MappingNode:
	default:
		p.errorf(v, field, "expected a URL or a mapping with url:, got %s", describe(v))
		return e, false
	}

	ok := true
	var urlSet bool
	var tlsKey *yaml.Node
	for _, f := range p.pairs(v, field) {
		ff := field + "." + f.name
		switch f.name {
		case "url":
			urlSet = true
			var good bool
			e.URL, good = p.url(f.val, ff)
			ok = ok && good
		case "tls":
			tlsKey = f.key
			var good bool
			e.TLS, good = p.tls(f.val, ff)
			ok = ok && good
		case "labels":
			e.Labels = p.stringMap(f.val, ff, nonEmptyKey)
		default:
			p.unknownField(f, field, engineFields())
			ok = false
		}
	}
	if !urlSet {
		p.errorf(v, field+".url", "is required")
		return e, false
	}
	if e.TLS != nil && e.URL != "" {
		switch scheme, _, _ := strings.Cut(e.URL, "://"); scheme {
		case "unix":
			p.errorf(tlsKey, field+".tls", "TLS does not apply to a unix:// engine")
			ok = false
		case "http":
			p.errorf(tlsKey, field+".tls", "TLS needs a tcp:// or https:// URL, not http://")
			ok = false
		case "ssh":
			p.errorf(tlsKey, field+".tls", "TLS does not apply to an ssh:// engine: ssh encrypts the connection")
			ok = false
		}
	}
	return e, ok
}

// tls checks an engine's tls:. A null tls: is no TLS.
func (p *parser) tls(n *yaml.Node, field string) (*TLS, bool) {
	pairs, v, ok := p.mapping(n, field, "a mapping with ca, cert, key and verify")
	if v == nil {
		return nil, ok
	}
	t := &TLS{Verify: true}
	ok = true
	var cert, key *yaml.Node
	for _, f := range pairs {
		ff := field + "." + f.name
		switch f.name {
		case "ca", "cert", "key":
			path, good := p.path(f.val, ff)
			ok = ok && good
			at := posOf(p.value(f.val))
			switch f.name {
			case "ca":
				t.CA, t.CAPos = path, at
			case "cert":
				t.Cert, t.CertPos, cert = path, at, f.key
			case "key":
				t.Key, t.KeyPos, key = path, at, f.key
			}
		case "verify":
			b, good := p.boolean(f.val, ff)
			t.Verify = b
			ok = ok && good
		default:
			p.unknownField(f, field, tlsFields())
			ok = false
		}
	}
	switch {
	case key != nil && cert == nil:
		p.errorf(key, field, "key is set without cert: a client certificate needs both")
		ok = false
	case cert != nil && key == nil:
		p.errorf(cert, field, "cert is set without key: a client certificate needs both")
		ok = false
	}
	return t, ok
}

// path returns the ${VAR}-expanded file path in n.
func (p *parser) path(n *yaml.Node, field string) (string, bool) {
	s, v, ok := p.str(n, field)
	if !ok {
		return "", false
	}
	if v == nil {
		p.errorf(n, field, "expected a file path, got null")
		return "", false
	}
	s, ok = p.expandAt(s, v, field)
	if ok && s == "" {
		p.errorf(v, field, "must not be empty")
		return "", false
	}
	return s, ok
}

// expandAt expands the variables in s, the value of node v, and records
// the problems at v.
func (p *parser) expandAt(s string, v *yaml.Node, field string) (string, bool) {
	out, errs := expand(s, p.lookup)
	for _, err := range errs {
		p.errorf(v, field, "%v", err)
	}
	return out, len(errs) == 0
}

// posOf returns where n is, the zero Pos for nil.
func posOf(n *yaml.Node) Pos {
	if n == nil {
		return Pos{}
	}
	return Pos{Line: n.Line, Col: n.Column}
}

// CheckFiles reads the TLS files of the engines as the daemon will when it
// connects, and returns a problem for each one that is missing, unreadable
// or unusable, at the position of its path. These are not errors of the
// file: the daemon runs with them (the engine is down until its files are
// there), and validate reports them as warnings (see Error.Warning).
func (c *Config) CheckFiles() ErrorList {
	return checkTLSFiles(c.File, c.Engines)
}

// Warning renders e as a warning: "file:line:col: warning: field: message".
func (e *Error) Warning() string {
	w := *e
	w.Field, w.Msg = "warning", e.Msg
	if e.Field != "" {
		w.Msg = e.Field + ": " + e.Msg
	}
	return w.Error()
}

// checkTLSFiles reads the TLS files of the engines, as the daemon will when it
// connects, and returns a problem, at the position of its path, for each file
// that cannot be read or does not hold what it should: a CA file without a
// certificate, a client certificate and key that do not make a pair.
func checkTLSFiles(file string, engines []Engine) ErrorList {
	var errs ErrorList
	add := func(at Pos, field, format string, args ...any) {
		errs = append(errs, &Error{File: file, Line: max(at.Line, 1), Col: max(at.Col, 1), Field: field, Msg: fmt.Sprintf(format, args...)})
	}
	for _, e := range engines {
		t := e.TLS
		if t == nil {
			continue
		}
		field := "cluster." + e.Name + ".tls."
		if t.CA != "" {
			if data, err := readTLSFile(t.CA); err != nil {
				add(t.CAPos, field+"ca", "%v", err)
			} else if !x509.NewCertPool().AppendCertsFromPEM(data) {
				add(t.CAPos, field+"ca", "%q holds no PEM certificate", t.CA)
			}
		}
		if t.Cert == "" || t.Key == "" {
			continue
		}
		cert, certErr := readTLSFile(t.Cert)
		if certErr != nil {
			add(t.CertPos, field+"cert", "%v", certErr)
		}
		key, keyErr := readTLSFile(t.Key)
		if keyErr != nil {
			add(t.KeyPos, field+"key", "%v", keyErr)
		}
		if certErr != nil || keyErr != nil {
			continue
		}
		if b, _ := pem.Decode(cert); b == nil {
			add(t.CertPos, field+"cert", "%q holds no PEM certificate", t.Cert)
		} else if _, err := tls.X509KeyPair(cert, key); err != nil {
			add(t.CertPos, field+"cert", "%q and %q are not a usable certificate and key: %v", t.Cert, t.Key, err)
		}
	}
	return errs
}

// readTLSFile reads a TLS file; the error names it.
func readTLSFile(path string) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		return data, nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return nil, fmt.Errorf("file %q: %w", path, err)
}
