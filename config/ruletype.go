package config

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"go.yaml.in/yaml/v3"
)

// types checks a rule's type: a comma-separated string or a list of
// strings. It returns the normalized types without repeats.
func (p *parser) types(n *yaml.Node, field string) []string {
	return p.typesFor(n, field, nil)
}

// typesFor is types for a rule about objects (nil: containers): each action
// must be one of theirs.
func (p *parser) typesFor(n *yaml.Node, field string, objects []string) []string {
	v := p.value(n)
	if v == nil {
		if !p.exhausted {
			p.errorf(n, field, "must not be empty: name at least one type, such as die or *")
		}
		return nil
	}
	var types []string
	add := func(t string) {
		if !slices.Contains(types, t) {
			types = append(types, t)
		}
	}
	switch v.Kind {
	case yaml.ScalarNode:
		if strings.TrimSpace(v.Value) == "" {
			p.errorf(v, field, "must not be empty: name at least one type, such as die or *")
			return nil
		}
		off := 0
		for _, item := range strings.Split(v.Value, ",") {
			lead := len(item) - len(strings.TrimLeft(item, " \t"))
			t, err := normalizeTypeFor(item, objects)
			if err != nil {
				line, col := p.scalarPos(v, off+lead, strings.TrimSpace(item))
				if strings.TrimSpace(item) == "" {
					err = fmt.Errorf("empty item in %q", v.Value)
				}
				p.errorAt(line, col, field, "%v", err)
			} else {
				add(t)
			}
			off += len(item) + 1
		}
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			p.errorf(v, field, "must not be empty: name at least one type, such as die or *")
			return nil
		}
		for i, it := range v.Content {
			f := fmt.Sprintf("%s[%d]", field, i)
			iv := p.value(it)
			var s string
			switch {
			case iv == nil:
				if !p.exhausted {
					p.errorf(it, f, "empty type")
				}
				continue
			case iv.Kind == yaml.ScalarNode:
				s = iv.Value
			case iv.Kind == yaml.MappingNode && len(iv.Content) == 2 &&
				iv.Content[0].Kind == yaml.ScalarNode && iv.Content[1].Kind == yaml.ScalarNode:
				// "- health_status: healthy" reads as a mapping.
				s = iv.Content[0].Value + ":" + iv.Content[1].Value
			default:
				p.errorf(iv, f, "expected a string, got %s", describe(iv))
				continue
			}
			if t, err := normalizeTypeFor(s, objects); err != nil {
				p.errorf(iv, f, "%v", err)
			} else {
				add(t)
			}
		}
	default:
		p.errorf(v, field, "expected a comma-separated string or a list of types, got %s", describe(v))
	}
	return types
}

// scalarPos returns the position of the text at byte offset off of the
// value of the one-line scalar v, checked against the file; it falls back
// to v's own position when the value is not written as is on one line
// (escapes, folding, UTF-16 input).
func (p *parser) scalarPos(v *yaml.Node, off int, item string) (line, col int) {
	line, col = v.Line, v.Column
	if off > len(v.Value) || strings.ContainsAny(v.Value, "\r\n") {
		return line, col
	}
	start := v.Column - 1 // in runes
	switch v.Style {
	case 0:
	case yaml.SingleQuotedStyle, yaml.DoubleQuotedStyle:
		start++
	default:
		return line, col
	}
	text, ok := p.line(v.Line)
	if !ok || start < 0 {
		return line, col
	}
	// Skip start runes of the line, then expect the value up to the item.
	for i := 0; i < start; i++ {
		if len(text) == 0 {
			return line, col
		}
		_, w := utf8.DecodeRune(text)
		text = text[w:]
	}
	end := min(off+len(item), len(v.Value))
	if !strings.HasPrefix(string(text), v.Value[:end]) {
		return line, col
	}
	return line, start + 1 + utf8.RuneCountInString(v.Value[:off])
}
