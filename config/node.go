package config

import (
	"fmt"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Tags yaml.v3 gives to resolved scalars.
const (
	tagNull  = "!!null"
	tagBool  = "!!bool"
	tagInt   = "!!int"
	tagMerge = "!!merge"
)

// parser walks the yaml.v3 node tree of one file and collects problems.
type parser struct {
	file   string
	data   []byte
	lookup func(string) (string, bool)
	errs   ErrorList

	// visits counts resolved nodes. Aliases can make a small tree look huge
	// (each alias re-walks its anchor), so the walk stops at maxVisits.
	visits, maxVisits int
	exhausted         bool
	// merging holds the mappings whose << merges are being expanded, to
	// catch a mapping that merges itself.
	merging map[*yaml.Node]bool
	// openCluster is set when discovery: adds engines at run time: a
	// from_engine may then name an engine cluster: does not list.
	openCluster bool
	// monitorList holds the monitors of monitors:, read before the rules
	// that name them (from_monitor:, a state rule's monitors:).
	monitorList []Monitor
}

// pair is one key: value of a mapping, after << merges.
type pair struct {
	key  *yaml.Node
	name string
	val  *yaml.Node
}

// errorf records a problem at n (1:1 when n has no position).
func (p *parser) errorf(n *yaml.Node, field, format string, args ...any) {
	line, col := 1, 1
	if n != nil && n.Line > 0 {
		line, col = n.Line, max(n.Column, 1)
	}
	p.errorAt(line, col, field, format, args...)
}

// errorAt records a problem at line:col. Once the walk has used up its
// budget, later problems are dropped: they would only be echoes.
func (p *parser) errorAt(line, col int, field, format string, args ...any) {
	if p.exhausted {
		return
	}
	p.errs = append(p.errs, &Error{
		File:  p.file,
		Line:  max(line, 1),
		Col:   max(col, 1),
		Field: field,
		Msg:   fmt.Sprintf(format, args...),
	})
}

// resolve follows n's alias, if any. It returns nil for a nil node and once
// the walk has used up its budget.
func (p *parser) resolve(n *yaml.Node) *yaml.Node {
	if n == nil {
		return nil
	}
	p.visits++
	if p.visits > p.maxVisits {
		p.errorf(n, "", "too many alias expansions: the file is not checked past this point")
		p.exhausted = true
		return nil
	}
	for i := 0; n.Kind == yaml.AliasNode; i++ {
		if n.Alias == nil || i > 100 {
			return nil
		}
		n = n.Alias
	}
	return n
}

// value resolves n and returns nil if it is null or missing.
func (p *parser) value(n *yaml.Node) *yaml.Node {
	r := p.resolve(n)
	if r == nil || r.Kind == yaml.ScalarNode && r.Tag == tagNull {
		return nil
	}
	return r
}

// describe names n's kind for "expected X, got Y" messages.
func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		return strconv.Quote(n.Value)
	case yaml.DocumentNode:
		return "a document"
	}
	return "an alias"
}

// expect resolves n and checks its kind. It returns (nil, true) for null and
// (nil, false), with the problem recorded, for another kind.
func (p *parser) expect(n *yaml.Node, field string, kind yaml.Kind, what string) (*yaml.Node, bool) {
	v := p.value(n)
	if v == nil {
		return nil, !p.exhausted
	}
	if v.Kind != kind {
		p.errorf(v, field, "expected %s, got %s", what, describe(v))
		return nil, false
	}
	return v, true
}

// mapping returns the pairs of the mapping n, nil for null. ok is false when
// n is not a mapping.
func (p *parser) mapping(n *yaml.Node, field, what string) (pairs []pair, v *yaml.Node, ok bool) {
	v, ok = p.expect(n, field, yaml.MappingNode, what)
	if v == nil {
		return nil, nil, ok
	}
	return p.pairs(v, field), v, true
}

// pairs returns the key: value pairs of the mapping m in file order, with
// << merges expanded in place (explicit keys win over merged ones, earlier
// merges over later ones). Duplicate keys and non-scalar keys are problems.
func (p *parser) pairs(m *yaml.Node, field string) []pair {
	explicit := make(map[string]*yaml.Node)
	keys := make([]string, len(m.Content)/2)
	for i := 0; i+1 < len(m.Content); i += 2 {
		k := m.Content[i]
		if k.Kind == yaml.ScalarNode && k.Tag == tagMerge {
			continue
		}
		rk := p.resolve(k)
		if rk == nil {
			return nil
		}
		if rk.Kind != yaml.ScalarNode {
			p.errorf(k, field, "keys must be strings, got %s", describe(rk))
			continue
		}
		if first, dup := explicit[rk.Value]; dup {
			p.errorf(k, joinField(field, rk.Value), "duplicate key (first at line %d)", first.Line)
			continue
		}
		explicit[rk.Value] = k
		keys[i/2] = rk.Value
	}

	var out []pair
	added := make(map[string]bool, len(explicit))
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if k.Kind == yaml.ScalarNode && k.Tag == tagMerge {
			for _, kv := range p.merged(v, field) {
				if explicit[kv.name] == nil && !added[kv.name] {
					added[kv.name] = true
					out = append(out, kv)
				}
			}
			continue
		}
		if name := keys[i/2]; explicit[name] == k {
			added[name] = true
			out = append(out, pair{key: k, name: name, val: v})
		}
	}
	return out
}

// merged returns the pairs that the value v of a << key merges in: a
// mapping, or a list of mappings.
func (p *parser) merged(v *yaml.Node, field string) []pair {
	r := p.resolve(v)
	if r == nil {
		return nil
	}
	var maps []*yaml.Node
	switch r.Kind {
	case yaml.MappingNode:
		maps = []*yaml.Node{r}
	case yaml.SequenceNode:
		for _, item := range r.Content {
			ri := p.resolve(item)
			if ri == nil {
				return nil
			}
			if ri.Kind != yaml.MappingNode {
				p.errorf(item, joinField(field, "<<"), "expected a mapping to merge, got %s", describe(ri))
				continue
			}
			maps = append(maps, ri)
		}
	default:
		p.errorf(v, joinField(field, "<<"), "expected a mapping or a list of mappings to merge, got %s", describe(r))
		return nil
	}
	var out []pair
	for _, m := range maps {
		if p.merging[m] {
			p.errorf(v, joinField(field, "<<"), "mapping merges itself")
			continue
		}
		p.merging[m] = true
		out = append(out, p.pairs(m, field)...)
		delete(p.merging, m)
	}
	return out
}

// unknownField records a key that is not one of known.
func (p *parser) unknownField(kv pair, field string, known []string) {
	p.errorf(kv.key, joinField(field, kv.name), "unknown field%s; known fields: %s",
		didYouMean(kv.name, known), strings.Join(known, ", "))
}

// joinField appends name to the field path.
func joinField(field, name string) string {
	if field == "" {
		return name
	}
	return field + "." + name
}
