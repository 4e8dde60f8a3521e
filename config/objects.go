package config

import (
	"fmt"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// Event kinds a rule's object: may name: Docker's event types. A rule
// without object: is about containers.
const (
	ObjectContainer = "container"
	ObjectImage     = "image"
	ObjectNetwork   = "network"
	ObjectVolume    = "volume"
	ObjectDaemon    = "daemon"
	ObjectPlugin    = "plugin"
)

// Objects returns the kinds object: may name, in a fixed order.
func Objects() []string {
	return []string{ObjectContainer, ObjectImage, ObjectNetwork, ObjectVolume, ObjectDaemon, ObjectPlugin}
}

// ObjectActions returns the Docker actions of the events of kind object, in
// a fixed order, as the engine sends them (moby's daemon/events callers);
// nil for an unknown kind.
func ObjectActions(object string) []string {
	switch object {
	case ObjectContainer:
		return ContainerActions()
	case ObjectImage:
		return []string{"pull", "push", "tag", "untag", "delete", "import", "load", "save", "create", "prune"}
	case ObjectNetwork:
		return []string{"create", "connect", "disconnect", "destroy", "remove", "update", "prune"}
	case ObjectVolume:
		return []string{"create", "mount", "unmount", "destroy", "prune"}
	case ObjectDaemon:
		return []string{"reload"}
	case ObjectPlugin:
		return []string{"install", "enable", "disable", "remove"}
	}
	return nil
}

// IsObjectAction reports whether action (without a ": status" suffix) is
// an action of kind object.
func IsObjectAction(object, action string) bool {
	return slices.Contains(ObjectActions(object), action)
}

// RuleObjects returns the kinds of events r is about: its Objects, or
// container when it names none.
func (r *Rule) RuleObjects() []string {
	if len(r.Objects) == 0 {
		return []string{ObjectContainer}
	}
	return r.Objects
}

// HasObject reports whether r is about events of kind object.
func (r *Rule) HasObject(object string) bool {
	return slices.Contains(r.RuleObjects(), object)
}

// normalizeObject lower-cases and trims one item of a rule's object: and
// checks that it is a known kind.
func normalizeObject(item string) (string, error) {
	o := strings.ToLower(strings.TrimSpace(item))
	if o == "" {
		return "", fmt.Errorf("empty object")
	}
	if !slices.Contains(Objects(), o) {
		return "", fmt.Errorf("unknown object %q%s; valid objects: %s",
			strings.TrimSpace(item), didYouMean(o, Objects()), strings.Join(Objects(), ", "))
	}
	return o, nil
}

// normalizeTypeFor is normalizeType for a rule about objects (nil:
// containers): an action must be one of the actions of at least one of
// them. engine_down, engine_up and * go with any object.
func normalizeTypeFor(item string, objects []string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(item))
	if len(objects) == 0 || slices.Equal(objects, []string{ObjectContainer}) {
		n, err := normalizeType(item)
		if err != nil {
			if o := objectOf(t); o != "" {
				return "", fmt.Errorf("%q is not an action of container events (it is one of %s events): add %s to object", t, o, o)
			}
		}
		return n, err
	}
	if t == "" {
		return "", fmt.Errorf("empty type")
	}
	if t == typeTCPDisconnect {
		return TypeEngineDown, nil
	}
	if t == TypeAll || isEngineType(t) || IsMonitorType(t) {
		return t, nil
	}
	if strings.Contains(t, ":") {
		if slices.Contains(objects, ObjectContainer) {
			return normalizeType(item) // health_status:x
		}
		return "", fmt.Errorf("unknown type %q: only the health_status of containers takes a status after \":\"", strings.TrimSpace(item))
	}
	var valid []string
	for _, o := range objects {
		if IsObjectAction(o, t) {
			return t, nil
		}
		for _, a := range ObjectActions(o) {
			if !slices.Contains(valid, a) {
				valid = append(valid, a)
			}
		}
	}
	names := strings.Join(objects, ", ")
	if o := objectOf(t); o != "" {
		return "", fmt.Errorf("%q is not an action of %s events (it is one of %s events): add %s to object, or use one of: %s",
			t, names, o, o, strings.Join(valid, ", "))
	}
	return "", fmt.Errorf("unknown type %q for %s events%s; valid types: *, engine_down, engine_up, %s",
		strings.TrimSpace(item), names, didYouMean(t, valid), strings.Join(valid, ", "))
}

// objectOf returns the first kind that has action, or "".
func objectOf(action string) string {
	for _, o := range Objects() {
		if IsObjectAction(o, action) {
			return o
		}
	}
	return ""
}

// objectsOf reads the object: of a rule, if it has one, before the other
// fields, since it says what type: may name. It returns nil when the rule
// has no object:. When object: is broken (reported), it returns every
// kind, so that type: is checked against the actions of all of them and a
// broken object: gives one error, not one per action.
func (p *parser) objectsOf(pairs []pair, field string) []string {
	for _, kv := range pairs {
		if kv.name == "object" {
			nerrs := len(p.errs)
			objs := p.objects(kv.val, field+".object")
			if len(p.errs) != nerrs || len(objs) == 0 {
				return Objects()
			}
			return objs
		}
	}
	return nil
}

// objects checks a rule's object: one kind, a comma-separated string of
// kinds, or a list of them. It returns them normalized, without repeats.
func (p *parser) objects(n *yaml.Node, field string) []string {
	v := p.value(n)
	if v == nil {
		if !p.exhausted {
			p.errorf(n, field, "must not be empty: leave object out for containers, or name a kind: %s", strings.Join(Objects(), ", "))
		}
		return nil
	}
	var out []string
	add := func(o string) {
		if !slices.Contains(out, o) {
			out = append(out, o)
		}
	}
	switch v.Kind {
	case yaml.ScalarNode:
		if strings.TrimSpace(v.Value) == "" {
			p.errorf(v, field, "must not be empty: leave object out for containers, or name a kind: %s", strings.Join(Objects(), ", "))
			return nil
		}
		off := 0
		for _, item := range strings.Split(v.Value, ",") {
			lead := len(item) - len(strings.TrimLeft(item, " \t"))
			if o, err := normalizeObject(item); err != nil {
				line, col := p.scalarPos(v, off+lead, strings.TrimSpace(item))
				p.errorAt(line, col, field, "%v", err)
			} else {
				add(o)
			}
			off += len(item) + 1
		}
	case yaml.SequenceNode:
		if len(v.Content) == 0 {
			p.errorf(v, field, "must not be empty: leave object out for containers, or name a kind: %s", strings.Join(Objects(), ", "))
			return nil
		}
		for i, it := range v.Content {
			f := fmt.Sprintf("%s[%d]", field, i)
			iv := p.value(it)
			switch {
			case iv == nil:
				if !p.exhausted {
					p.errorf(it, f, "empty object")
				}
			case iv.Kind != yaml.ScalarNode:
				p.errorf(iv, f, "expected a string, got %s", describe(iv))
			default:
				if o, err := normalizeObject(iv.Value); err != nil {
					p.errorf(iv, f, "%v", err)
				} else {
					add(o)
				}
			}
		}
	default:
		p.errorf(v, field, "expected a kind, a comma-separated string or a list of kinds, got %s", describe(v))
	}
	return out
}

// checkObjectFilters reports the filters of r that can never match the
// kinds of events r is about: from_container needs container, network
// (connect, disconnect) or volume (mount, unmount) events; image and
// image_contains need container or image events; exit_code needs
// containers.
func (p *parser) checkObjectFilters(r *Rule, nodes ruleNodes, field string) {
	if len(r.Objects) == 0 {
		return
	}
	objs := strings.Join(r.Objects, ", ")
	anyOf := func(kinds ...string) bool {
		return slices.ContainsFunc(kinds, r.HasObject)
	}
	if nodes.selector.fromContainer != nil && !anyOf(ObjectContainer, ObjectNetwork, ObjectVolume) {
		p.errorf(nodes.selector.fromContainer, field+".from_container",
			"never matches: %s events name no container (from_container applies to container, network and volume events)", objs)
	}
	for _, f := range []struct {
		key  *yaml.Node
		name string
	}{{nodes.selector.image, "image"}, {nodes.selector.imageContains, "image_contains"}} {
		if f.key != nil && !anyOf(ObjectContainer, ObjectImage) {
			p.errorf(f.key, field+"."+f.name,
				"never matches: %s events name no image (%s applies to container and image events)", objs, f.name)
		}
	}
	if nodes.exitCode != nil && !r.HasObject(ObjectContainer) {
		p.errorf(nodes.exitCode, field+".exit_code", "exit_code only applies to the die of a container: add container to object")
	}
}
