package config

import (
	"fmt"
	"strings"

	"go.yaml.in/yaml/v3"
)

// namedRule is what ruleList needs of a rule: its name and where it is.
type namedRule interface {
	namePos() (string, Pos)
}

func (r Rule) namePos() (string, Pos)      { return r.Name, r.Pos }
func (r StateRule) namePos() (string, Pos) { return r.Name, r.Pos }

// ruleParser checks the index-th item of a list of rules, field its path
// ("events[2]"). It returns the rule, the key node of its name: (nil when
// the rule has the default name) and whether the rule is valid.
type ruleParser[R namedRule] func(item *yaml.Node, field string, index int) (R, *yaml.Node, bool)

// ruleList checks the list of rules under key (events or state; what names
// one in messages: "rule", "state rule") and returns its valid rules. Each
// name must be unique: a rule whose name an earlier rule has is an error,
// and left out.
func ruleList[R namedRule](p *parser, n *yaml.Node, key, what string, parse ruleParser[R]) []R {
	v, ok := p.expect(n, key, yaml.SequenceNode, "a list of "+what+"s")
	if !ok || v == nil {
		return nil
	}
	rules := make([]R, 0, len(v.Content))
	firstByName := make(map[string]Pos) // rule name -> where the first rule of that name is
	for i, item := range v.Content {
		field := fmt.Sprintf("%s[%d]", key, i)
		r, nameKey, ok := parse(item, field, i)
		if !ok {
			continue
		}
		name, pos := r.namePos()
		if first, dup := firstByName[name]; dup {
			if nameKey == nil {
				p.errorf(item, field+".name", "this %s's default name %q is taken by the %s at line %d: give it a name", what, name, what, first.Line)
			} else {
				p.errorf(nameKey, field+".name", "duplicate %s name %q (first used at line %d)", what, name, first.Line)
			}
			continue
		}
		firstByName[name] = pos
		rules = append(rules, r)
	}
	return rules
}

// ruleMapping checks that item, a rule of a list (what describes one: "a
// rule (a mapping with type: and more)"), is a mapping, and returns its
// pairs, its mapping node and where the rule is (the alias, for a rule that
// is one).
func (p *parser) ruleMapping(item *yaml.Node, field, what string) ([]pair, *yaml.Node, Pos, bool) {
	pairs, v, ok := p.mapping(item, field, what)
	if !ok {
		return nil, nil, Pos{}, false
	}
	if v == nil {
		p.errorf(item, field, "expected %s, got null", what)
		return nil, nil, Pos{}, false
	}
	pos := Pos{Line: v.Line, Col: v.Column}
	if item.Kind == yaml.AliasNode {
		pos = Pos{Line: item.Line, Col: item.Column}
	}
	return pairs, v, pos, true
}

// ruleName checks a rule's name: and returns it, or "" (and an error unless
// the name: is null) when it is not a non-empty single line.
func (p *parser) ruleName(n *yaml.Node, field string) string {
	s, v, ok := p.str(n, field)
	if !ok || v == nil {
		return ""
	}
	switch {
	case strings.TrimSpace(s) == "":
		p.errorf(v, field, "must not be empty")
	case strings.ContainsAny(s, "\r\n"):
		p.errorf(v, field, "must be a single line")
	default:
		return s
	}
	return ""
}
