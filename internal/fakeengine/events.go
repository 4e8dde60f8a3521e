package fakeengine

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Limits of dockerd's event publisher (daemon/events, pkg/pubsub).
const (
	// RingSize is how many events an engine keeps for replay (since).
	RingSize = 256
	// SubscriberBuffer is how many events wait for a slow subscriber before
	// the publisher blocks on it.
	SubscriberBuffer = 1024
	// DropTimeout is how long the publisher waits for a subscriber whose
	// buffer is full before it drops the event for that subscriber.
	DropTimeout = 100 * time.Millisecond
)

// event is one container event. It is immutable once published.
type event struct {
	action  string
	actorID string
	name    string // the container's name, for the container filter
	image   string
	attrs   map[string]string
	// prefix is the event's JSON up to `"time":`, with the legacy fields;
	// the time fields follow. prefix[typeAt:] starts at `"Type":`: the
	// event without them.
	prefix   []byte
	typeAt   int
	timeNano int64
}

// newEvent builds a container event and its JSON prefix, in dockerd 20.10's
// shape (API < 1.52 keeps the legacy status, id and from fields).
func newEvent(c *container, action string, extra map[string]string) *event {
	attrs := make(map[string]string, len(c.labels)+2+len(extra))
	for k, v := range c.labels {
		attrs[k] = v
	}
	// Docker writes name and image over labels of those names.
	attrs["name"] = c.name
	attrs["image"] = c.image
	for k, v := range extra {
		attrs[k] = v
	}
	ev := &event{action: action, actorID: c.id, name: c.name, image: c.image, attrs: attrs}
	ev.prefix = encodePrefix(action, c.id, c.image, attrs)
	ev.typeAt = bytes.Index(ev.prefix, []byte(`"Type":`))
	return ev
}

func encodePrefix(action, id, image string, attrs map[string]string) []byte {
	a, _ := json.Marshal(action)
	i, _ := json.Marshal(id)
	from, _ := json.Marshal(image)
	at, _ := json.Marshal(attrs)
	b := make([]byte, 0, 2*len(a)+2*len(i)+len(from)+len(at)+120)
	b = append(b, `{"status":`...)
	b = append(b, a...)
	b = append(b, `,"id":`...)
	b = append(b, i...)
	b = append(b, `,"from":`...)
	b = append(b, from...)
	b = append(b, `,"Type":"container","Action":`...)
	b = append(b, a...)
	b = append(b, `,"Actor":{"ID":`...)
	b = append(b, i...)
	b = append(b, `,"Attributes":`...)
	b = append(b, at...)
	b = append(b, `},"scope":"local","time":`...)
	return b
}

// encoder writes events as a stream answers them: with or without the
// legacy fields (API < 1.52 or not), as JSON lines or as an RFC 7464 JSON
// text sequence (each record after an ASCII RS).
type encoder struct{ legacy, seq bool }

// recordSeparator starts each record of application/json-seq.
const recordSeparator = 0x1E

// append appends ev's record to dst.
func (c encoder) append(dst []byte, ev *event) []byte {
	if c.seq {
		dst = append(dst, recordSeparator)
	}
	if c.legacy {
		dst = append(dst, ev.prefix...)
	} else {
		dst = append(dst, '{')
		dst = append(dst, ev.prefix[ev.typeAt:]...)
	}
	return ev.appendTime(dst)
}

// appendTime appends the time fields and the end of the record.
func (ev *event) appendTime(dst []byte) []byte {
	dst = strconv.AppendInt(dst, ev.timeNano/int64(time.Second), 10)
	dst = append(dst, `,"timeNano":`...)
	dst = strconv.AppendInt(dst, ev.timeNano, 10)
	return append(dst, '}', '\n')
}

// emit publishes an event about c. The caller holds e.mu, which keeps the
// events of an engine in order.
func (e *Engine) emit(c *container, action string, extra map[string]string) {
	e.log.publish(newEvent(c, action, extra))
}

// emitTemplate publishes a copy of a cached event of c (the load generator's
// events, whose JSON is encoded once). The caller holds e.mu.
func (e *Engine) emitTemplate(c *container, key, action string, extra map[string]string) int {
	t := c.tmpl[key]
	if t == nil {
		if c.tmpl == nil {
			c.tmpl = map[string]*event{}
		}
		t = newEvent(c, action, extra)
		c.tmpl[key] = t
	}
	ev := *t
	e.log.publish(&ev)
	return 1
}

// eventLog is an engine's event publisher: the replay ring and the
// subscribers.
type eventLog struct {
	// mu guards the ring, the clock and the subscriber list.
	mu    sync.Mutex
	ring  []*event // circular, RingSize
	head  int      // index of the oldest event
	n     int
	clock int64
	// subs is replaced, never modified, so publish can read it unlocked.
	subs []*subscriber

	emitted    atomic.Int64 // events published
	queued     atomic.Int64 // events handed to a subscriber's buffer
	dropped    atomic.Int64 // events dropped by the 100 ms rule
	written    atomic.Int64 // events written to a connection
	maxBacklog atomic.Int64 // most events ever waiting in one subscriber's buffer
	streams    atomic.Int64 // event streams opened
}

func (l *eventLog) init() { l.ring = make([]*event, RingSize) }

// subscriber is one open /events stream.
type subscriber struct {
	f       *filter
	ch      chan *event
	end     chan struct{}
	endOnce sync.Once
	// abort is set when the stream must end without a clean close.
	abort atomic.Bool
}

func (s *subscriber) stop(abort bool) {
	if abort {
		s.abort.Store(true)
	}
	s.endOnce.Do(func() { close(s.end) })
}

// publish stamps ev, appends it to the ring and hands it to every subscriber
// whose filters match. A subscriber whose buffer is full gets DropTimeout to
// take it; then the event is dropped for that subscriber and counted. Callers
// serialize publish.
func (l *eventLog) publish(ev *event) {
	l.mu.Lock()
	now := time.Now().UnixNano()
	if now <= l.clock {
		now = l.clock + 1
	}
	l.clock = now
	ev.timeNano = now
	if l.n < RingSize {
		l.ring[(l.head+l.n)%RingSize] = ev
		l.n++
	} else {
		l.ring[l.head] = ev
		l.head = (l.head + 1) % RingSize
	}
	subs := l.subs
	l.mu.Unlock()
	l.emitted.Add(1)

	var timer *time.Timer
	expired := false
	for _, s := range subs {
		if !s.f.match(ev) {
			continue
		}
		select {
		case s.ch <- ev:
			l.queued.Add(1)
			if b := int64(len(s.ch)); b > l.maxBacklog.Load() {
				l.maxBacklog.Store(b)
			}
			continue
		default:
		}
		// The buffer is full. dockerd waits for all slow subscribers at
		// once, up to DropTimeout: one deadline for this event.
		if expired {
			l.dropped.Add(1)
			continue
		}
		if timer == nil {
			timer = time.NewTimer(DropTimeout)
		}
		select {
		case s.ch <- ev:
			l.queued.Add(1)
		case <-timer.C:
			expired = true
			l.dropped.Add(1)
		case <-s.end:
		}
	}
	if timer != nil {
		timer.Stop()
	}
}

// subscribe registers a subscriber and returns the events of the ring it
// must see first: those at or after since (inclusive) and not after until,
// when either is set (-1: not set), matching f.
func (l *eventLog) subscribe(since, until int64, f *filter) ([]*event, *subscriber) {
	s := &subscriber{f: f, ch: make(chan *event, SubscriberBuffer), end: make(chan struct{})}
	l.mu.Lock()
	defer l.mu.Unlock()
	var replay []*event
	if since >= 0 || until >= 0 {
		for i := l.n - 1; i >= 0; i-- {
			ev := l.ring[(l.head+i)%RingSize]
			if ev.timeNano < since {
				break
			}
			if until >= 0 && ev.timeNano > until {
				continue
			}
			if f.match(ev) {
				replay = append(replay, ev)
			}
		}
		for i, j := 0, len(replay)-1; i < j; i, j = i+1, j-1 {
			replay[i], replay[j] = replay[j], replay[i]
		}
	}
	subs := make([]*subscriber, 0, len(l.subs)+1)
	subs = append(subs, l.subs...)
	l.subs = append(subs, s)
	l.streams.Add(1)
	return replay, s
}

func (l *eventLog) unsubscribe(s *subscriber) {
	l.mu.Lock()
	defer l.mu.Unlock()
	subs := make([]*subscriber, 0, len(l.subs))
	for _, x := range l.subs {
		if x != s {
			subs = append(subs, x)
		}
	}
	l.subs = subs
}

// endAll ends every open stream cleanly.
func (l *eventLog) endAll() {
	l.mu.Lock()
	subs := l.subs
	l.mu.Unlock()
	for _, s := range subs {
		s.stop(false)
	}
}

// reset empties the ring and aborts every stream, as a restarted dockerd.
func (l *eventLog) reset() {
	l.mu.Lock()
	clear(l.ring)
	l.head, l.n = 0, 0
	subs := l.subs
	l.mu.Unlock()
	for _, s := range subs {
		s.stop(true)
	}
}

// subscribers returns how many streams are open.
func (l *eventLog) subscribers() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.subs)
}

// filter is a parsed "filters" query parameter of /events.
type filter struct {
	terms map[string]map[string]bool
	// fuzzyEvents: an event filter naming health_status, exec_create or
	// exec_start matches actions by prefix (moby #25798).
	fuzzyEvents bool
}

// parseFilters reads Docker's filters JSON: {"type":{"container":true}} or the
// legacy {"type":["container"]}.
func parseFilters(s string) (*filter, error) {
	f := &filter{terms: map[string]map[string]bool{}}
	if s == "" {
		return f, nil
	}
	var m map[string]map[string]bool
	if err := json.Unmarshal([]byte(s), &m); err != nil {
		var legacy map[string][]string
		if err2 := json.Unmarshal([]byte(s), &legacy); err2 != nil {
			return nil, err
		}
		m = map[string]map[string]bool{}
		for k, vs := range legacy {
			m[k] = map[string]bool{}
			for _, v := range vs {
				m[k][v] = true
			}
		}
	}
	for k, vs := range m {
		if len(vs) > 0 {
			f.terms[k] = vs
		}
	}
	for _, a := range []string{"health_status", "exec_create", "exec_start"} {
		if f.terms["event"][a] {
			f.fuzzyEvents = true
		}
	}
	return f, nil
}

func (f *filter) exact(term, v string) bool {
	vs := f.terms[term]
	return len(vs) == 0 || vs[v]
}

func (f *filter) fuzzy(term, v string) bool {
	vs := f.terms[term]
	if len(vs) == 0 {
		return true
	}
	for p := range vs {
		if strings.HasPrefix(v, p) {
			return true
		}
	}
	return false
}

// match applies dockerd's event filters (daemon/events/filter.go) to a
// container event.
func (f *filter) match(ev *event) bool {
	if f == nil || len(f.terms) == 0 {
		return true
	}
	if f.fuzzyEvents {
		if !f.fuzzy("event", ev.action) {
			return false
		}
	} else if !f.exact("event", ev.action) {
		return false
	}
	if !f.exact("type", "container") || !f.exact("scope", "local") {
		return false
	}
	if len(f.terms["container"]) > 0 && !f.fuzzy("container", ev.actorID) && !f.fuzzy("container", ev.name) {
		return false
	}
	if len(f.terms["image"]) > 0 && !f.exact("image", ev.actorID) && !f.exact("image", ev.image) &&
		!f.exact("image", stripTag(ev.image)) {
		return false
	}
	for _, t := range []string{"daemon", "plugin", "volume", "network", "node", "service", "secret", "config"} {
		if len(f.terms[t]) > 0 {
			return false
		}
	}
	return matchLabels(f.terms["label"], ev.attrs)
}

// matchLabels reports whether attrs satisfy every "key" or "key=value".
func matchLabels(want map[string]bool, attrs map[string]string) bool {
	for kv := range want {
		k, v, hasValue := strings.Cut(kv, "=")
		got, ok := attrs[k]
		if !ok || (hasValue && got != v) {
			return false
		}
	}
	return true
}

// stripTag removes ":tag" from an image name (not a registry port).
func stripTag(image string) string {
	i := strings.LastIndexByte(image, ':')
	if i < 0 || strings.Contains(image[i:], "/") {
		return image
	}
	return image[:i]
}
