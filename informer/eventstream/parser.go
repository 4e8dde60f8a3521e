package eventstream

import (
	"hash/maphash"
	"unicode/utf8"

	"github.com/moby/moby/api/types/events"
)

// eventParser parses the JSON of an event as dockerd writes it: an object of
// string and integer fields, the Actor object and its Attributes of strings.
// It accepts only what it decodes exactly as encoding/json would (keys spelled
// as the struct tags, no duplicate field, no null, ints without fraction or
// exponent, strings of valid UTF-8 without surrogate escapes); on anything
// else message returns false and the caller uses encoding/json.
//
// Short strings (attribute keys and values, names, actions...) are interned:
// a string seen recently is not allocated again. The table is a direct-mapped
// cache of internSlots strings (a newer string evicts an older one with the
// same hash), allocated on the first event: cheaper than a map, and nothing
// for an idle engine.
type eventParser struct {
	b       []byte
	i       int
	seed    maphash.Seed
	strs    *[internSlots]string
	scratch []byte // unescaped string being built
}

const (
	internSlots  = 256 // a power of two
	internMaxLen = 32  // longer strings (container IDs) are not interned
)

// Fields of events.Message and Actor, to refuse duplicates.
const (
	fType = 1 << iota
	fAction
	fActor
	fScope
	fTime
	fTimeNano
	fStatus
	fID
	fFrom
	fActorID
	fAttributes
	fHealth
)

// HealthStatusAttr is the actor attribute the decoder puts Podman's top-level
// HealthStatus field in (events.Message has no field for it): Podman 4.x sends
// a bare health_status event with the status beside the Actor.
const HealthStatusAttr = "health_status"

// message parses the object b into m (zero) and reports whether it could.
func (p *eventParser) message(b []byte, m *events.Message) bool {
	p.b, p.i = b, 0
	seen := 0
	var health string
	ok := p.object(func(key []byte) bool {
		var f int
		switch string(key) {
		case "HealthStatus":
			f = fHealth
		case "Type":
			f = fType
		case "Action":
			f = fAction
		case "Actor":
			f = fActor
		case "scope":
			f = fScope
		case "time":
			f = fTime
		case "timeNano":
			f = fTimeNano
		case "status":
			f = fStatus
		case "id":
			f = fID
		case "from":
			f = fFrom
		default:
			return false // unknown, or another spelling: encoding/json decides
		}
		if seen&f != 0 {
			return false
		}
		seen |= f
		var s string
		var ok bool
		switch f {
		case fType:
			s, ok = p.str()
			m.Type = events.Type(s)
		case fAction:
			s, ok = p.str()
			m.Action = events.Action(s)
		case fScope:
			m.Scope, ok = p.str()
		case fTime:
			m.Time, ok = p.int()
		case fTimeNano:
			m.TimeNano, ok = p.int()
		case fActor:
			ok = p.actor(&m.Actor)
		case fHealth:
			health, ok = p.str()
		default: // status, id, from: strings the message has no field for
			_, ok = p.strBytes()
		}
		return ok
	})
	p.space()
	if !ok || p.i != len(p.b) {
		return false
	}
	setHealth(m, health)
	return true
}

// setHealth keeps Podman's top-level HealthStatus as the HealthStatusAttr
// attribute of the actor.
func setHealth(m *events.Message, health string) {
	if health == "" {
		return
	}
	if m.Actor.Attributes == nil {
		m.Actor.Attributes = make(map[string]string, 1)
	}
	m.Actor.Attributes[HealthStatusAttr] = health
}

// actor parses the Actor object.
func (p *eventParser) actor(a *events.Actor) bool {
	seen := 0
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "ID":
			if seen&fActorID != 0 {
				return false
			}
			seen |= fActorID
			var ok bool
			a.ID, ok = p.str()
			return ok
		case "Attributes":
			if seen&fAttributes != 0 {
				return false
			}
			seen |= fAttributes
			attrs := make(map[string]string, 8)
			a.Attributes = attrs
			return p.object(func(key []byte) bool {
				k := p.intern(key)
				v, ok := p.str()
				attrs[k] = v
				return ok
			})
		}
		return false
	})
}

// object parses an object, calling member with each key (valid only during
// the call) and the parser on the member's value.
func (p *eventParser) object(member func(key []byte) bool) bool {
	p.space()
	if !p.consume('{') {
		return false
	}
	p.space()
	if p.consume('}') {
		return true
	}
	for {
		p.space()
		key, ok := p.strBytes()
		if !ok {
			return false
		}
		// key may point into scratch, which the value may overwrite: the
		// callers copy it (intern) before parsing the value, or compare it.
		p.space()
		if !p.consume(':') {
			return false
		}
		p.space()
		if !member(key) {
			return false
		}
		p.space()
		if p.consume('}') {
			return true
		}
		if !p.consume(',') {
			return false
		}
	}
}

func (p *eventParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *eventParser) consume(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// int parses an integer of an int64.
func (p *eventParser) int() (int64, bool) {
	neg := p.consume('-')
	start := p.i
	var n uint64
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		n = n*10 + uint64(p.b[p.i]-'0')
		p.i++
	}
	// 19 digits cannot overflow a uint64; leading zeros are not JSON.
	nd := p.i - start
	if nd == 0 || nd > 19 || (nd > 1 && p.b[start] == '0') {
		return 0, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

// str parses a string and returns it, interned when short.
func (p *eventParser) str() (string, bool) {
	b, ok := p.strBytes()
	if !ok {
		return "", false
	}
	return p.intern(b), true
}

// intern returns b as a string: the one of the table when it holds it.
func (p *eventParser) intern(b []byte) string {
	if len(b) > internMaxLen || len(b) == 0 {
		return string(b)
	}
	if p.strs == nil {
		p.strs = new([internSlots]string)
	}
	slot := &p.strs[maphash.Bytes(p.seed, b)&(internSlots-1)]
	if *slot == string(b) {
		return *slot
	}
	s := string(b)
	*slot = s
	return s
}

// strBytes parses a string: its bytes in the input when it has no escape,
// else unescaped in scratch (valid until the next string).
func (p *eventParser) strBytes() ([]byte, bool) {
	if !p.consume('"') {
		return nil, false
	}
	start := p.i
	ascii := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, ascii || utf8.Valid(s)
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.i++
	}
	return nil, false
}

// escaped finishes a string that has escapes, from start, in scratch.
func (p *eventParser) escaped(start int) ([]byte, bool) {
	out, ok := p.unescape(append(p.scratch[:0], p.b[start:p.i]...))
	p.scratch = out[:0]
	return out, ok && utf8.Valid(out)
}

func (p *eventParser) unescape(out []byte) ([]byte, bool) {
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return out, true
		case c < 0x20:
			return out, false
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return out, false
		}
		e := p.b[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if p.i+4 > len(p.b) {
				return out, false
			}
			var r rune
			for _, h := range p.b[p.i : p.i+4] {
				switch {
				case h >= '0' && h <= '9':
					r = r<<4 | rune(h-'0')
				case h >= 'a' && h <= 'f':
					r = r<<4 | rune(h-'a'+10)
				case h >= 'A' && h <= 'F':
					r = r<<4 | rune(h-'A'+10)
				default:
					return out, false
				}
			}
			if r >= 0xd800 && r < 0xe000 {
				return out, false // surrogates: encoding/json pairs them
			}
			out = utf8.AppendRune(out, r)
			p.i += 4
		default:
			return out, false
		}
	}
	return out, false
}
