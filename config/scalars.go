package config

import (
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// str returns the text of the scalar n and the resolved node, which is nil
// for null. ok is false, with the problem recorded, when n is not a scalar.
func (p *parser) str(n *yaml.Node, field string) (s string, v *yaml.Node, ok bool) {
	v, ok = p.expect(n, field, yaml.ScalarNode, "a string")
	if v == nil {
		return "", nil, ok
	}
	return v.Value, v, true
}

// integer parses the integer scalar n; null is an error too.
func (p *parser) integer(n *yaml.Node, field string) (int, *yaml.Node, bool) {
	v, ok := p.expect(n, field, yaml.ScalarNode, "an integer")
	if !ok {
		return 0, nil, false
	}
	if v == nil {
		p.errorf(n, field, "expected an integer, got null")
		return 0, nil, false
	}
	if v.Tag == tagInt {
		i, err := strconv.ParseInt(strings.ReplaceAll(v.Value, "_", ""), 0, 0)
		if err == nil {
			return int(i), v, true
		}
	}
	p.errorf(v, field, "expected an integer, got %s", describe(v))
	return 0, v, false
}

// boolean parses the boolean scalar n; null is an error too.
func (p *parser) boolean(n *yaml.Node, field string) (bool, bool) {
	v, ok := p.expect(n, field, yaml.ScalarNode, "true or false")
	if !ok {
		return false, false
	}
	if v != nil && v.Tag == tagBool {
		if b, err := strconv.ParseBool(strings.ToLower(v.Value)); err == nil {
			return b, true
		}
	}
	if v == nil {
		v = n
	}
	p.errorf(v, field, "expected true or false, got %s", describe(v))
	return false, false
}

// duration parses the positive duration scalar n, such as "30s"; null is an
// error too.
func (p *parser) duration(n *yaml.Node, field string) (time.Duration, bool) {
	v, ok := p.expect(n, field, yaml.ScalarNode, "a duration")
	if !ok {
		return 0, false
	}
	if v == nil {
		p.errorf(n, field, `expected a duration such as "30s", got null`)
		return 0, false
	}
	d, err := time.ParseDuration(v.Value)
	if err != nil {
		p.errorf(v, field, `invalid duration %q: want a number and a unit, as in "500ms", "30s" or "1m30s"`, v.Value)
		return 0, false
	}
	if d <= 0 {
		p.errorf(v, field, "must be positive, got %s", v.Value)
		return 0, false
	}
	return d, true
}

// stringMap decodes a mapping of strings to scalars; a null value is "".
// Keys are checked with validKey, which returns "" or a problem.
func (p *parser) stringMap(n *yaml.Node, field string, validKey func(string) string) map[string]string {
	pairs, _, _ := p.mapping(n, field, "a mapping of names to strings")
	if len(pairs) == 0 {
		return nil
	}
	m := make(map[string]string, len(pairs))
	for _, kv := range pairs {
		f := field + "." + kv.name
		if msg := validKey(kv.name); msg != "" {
			p.errorf(kv.key, f, "%s", msg)
			continue
		}
		s, _, ok := p.str(kv.val, f)
		if ok {
			m[kv.name] = s
		}
	}
	return m
}

// nonEmptyKey is a validKey for stringMap that only rejects "".
func nonEmptyKey(k string) string {
	if k == "" {
		return "key must not be empty"
	}
	return ""
}
