package config

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// EngineFile is the content of a file source's file: the engines it gives,
// and the entries it skipped.
type EngineFile struct {
	// Engines are the valid entries, in file order.
	Engines []Engine
	// Skipped are the problems of the entries left out, each at its
	// file:line:col and field (the engine's name).
	Skipped ErrorList
}

// ParseEngineFile parses the engines file of a file source: a mapping of
// engine names to a URL or a mapping of url:, tls: and labels:, as the
// entries of cluster: (${VAR} expanded too). A bad entry is skipped, its
// problems in Skipped; the others stay. A file that is no mapping at all
// (a syntax error, a list) is an ErrorList error: the caller keeps what it
// had. An empty file is no engines.
func (l Loader) ParseEngineFile(file string, data []byte) (EngineFile, error) {
	p := &parser{file: file, data: data, lookup: l.lookupEnv(), merging: make(map[*yaml.Node]bool)}
	doc, perr := p.decode()
	if perr != nil {
		return EngineFile{}, ErrorList{perr}
	}
	p.maxVisits = 16*countNodes(doc) + 1000
	var root *yaml.Node
	if doc != nil && len(doc.Content) > 0 {
		root = doc.Content[0]
	}
	pairs, _, ok := p.mapping(root, "", "a mapping of engine names to URLs")
	if !ok || p.exhausted {
		return EngineFile{}, p.errs.sorted()
	}
	var out EngineFile
	for _, kv := range pairs {
		before := len(p.errs)
		if msg := checkEngineName(kv.name); msg != "" {
			p.errorf(kv.key, kv.name, "%s", msg)
			continue
		}
		e, ok := p.engine(kv, kv.name)
		if ok && len(p.errs) == before {
			out.Engines = append(out.Engines, e)
		}
	}
	out.Skipped = p.errs.sorted()
	return out, nil
}

// ParseSourceEngine parses the value a discovery source gives for the
// engine called name: a URL, or a JSON object {"url": ..., "tls": {...},
// "labels": {...}} with the fields of an engine of cluster:. where names
// the source and key in the problems ("etcd /eventsd/engines/web-1"). No
// ${VAR} is expanded: the value is not the operator's file, and must not
// read the daemon's environment ($$ is a literal $).
func ParseSourceEngine(where, name string, value []byte) (Engine, error) {
	if msg := checkEngineName(name); msg != "" {
		return Engine{}, fmt.Errorf("%s: %s", where, msg)
	}
	text := strings.TrimSpace(string(value))
	if text == "" {
		return Engine{}, fmt.Errorf("%s: empty value: want a URL or a JSON object with url", where)
	}
	if !strings.HasPrefix(text, "{") {
		// A URL: quoted, so that YAML never reads it as anything else.
		text = quoteYAML(text)
	}
	p := &parser{file: where, data: []byte(text), lookup: noEnv, merging: make(map[*yaml.Node]bool)}
	doc, perr := p.decode()
	if perr != nil {
		return Engine{}, ErrorList{perr}
	}
	p.maxVisits = 16*countNodes(doc) + 1000
	if doc == nil || len(doc.Content) == 0 {
		return Engine{}, fmt.Errorf("%s: empty value", where)
	}
	key := &yaml.Node{Kind: yaml.ScalarNode, Value: name, Line: 1, Column: 1}
	e, ok := p.engine(pair{key: key, name: name, val: doc.Content[0]}, name)
	if len(p.errs) > 0 {
		return Engine{}, p.errs.sorted()
	}
	if !ok {
		return Engine{}, fmt.Errorf("%s: invalid engine", where)
	}
	e.Pos = Pos{}
	return e, nil
}

// quoteYAML returns s as a double-quoted YAML scalar.
func quoteYAML(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, `\x%02x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// noEnv is the lookup of source values: no variable is set.
func noEnv(string) (string, bool) { return "", false }

// SortEngines sorts engines by name, for sources whose order means nothing
// (a hash, a key range, DNS answers).
func SortEngines(engines []Engine) {
	slices.SortFunc(engines, func(a, b Engine) int { return strings.Compare(a.Name, b.Name) })
}
