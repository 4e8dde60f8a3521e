package informer

// dedupSize is how many recent event keys are remembered. The engine replays at most
// its last 256 events (of all types), so a replay can only repeat events among the
// last 256 the informer saw; 1024 leaves room.
const dedupSize = 1024

// eventKey identifies an event for deduplication: (timeNano, actor, action). The
// engine is implied: each Informer has its own dedup.
type eventKey struct {
	timeNano int64
	id       string
	action   string
}

// dedup remembers the most recent event keys, because "since" is inclusive and a
// reconnect replays events that were already handled.
//
// Nearly every event is newer than all the keys remembered, and so cannot be one
// of them: seen checks that with one comparison and only scans the ring for an
// event that is not (a replay, or one stamped out of order). No map: hashing two
// strings per event cost more than the rare scans.
//
// The ring grows as events come, up to dedupSize (40 KiB): a quiet engine
// costs next to nothing, which matters with a thousand engines.
type dedup struct {
	// ring holds the keys, oldest at next once it is full.
	ring []eventKey
	next int
	// newest is the largest timeNano ever remembered.
	newest int64
}

func newDedup() *dedup { return &dedup{} }

// seen reports whether k was seen among the last dedupSize events, and remembers it.
func (d *dedup) seen(k eventKey) bool {
	if len(d.ring) > 0 && k.timeNano <= d.newest {
		for i := range d.ring {
			r := &d.ring[i]
			if r.timeNano == k.timeNano && r.id == k.id && r.action == k.action {
				return true
			}
		}
	}
	if len(d.ring) == 0 || k.timeNano > d.newest {
		d.newest = k.timeNano
	}
	if len(d.ring) < dedupSize {
		d.ring = append(d.ring, k)
		return false
	}
	d.ring[d.next] = k
	d.next = (d.next + 1) % dedupSize
	return false
}

// each calls f with every remembered key, oldest first.
func (d *dedup) each(f func(eventKey)) {
	if len(d.ring) < dedupSize {
		for _, k := range d.ring {
			f(k)
		}
		return
	}
	for _, k := range d.ring[d.next:] {
		f(k)
	}
	for _, k := range d.ring[:d.next] {
		f(k)
	}
}
