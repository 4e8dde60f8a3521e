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
type dedup struct {
	ring  [dedupSize]eventKey
	next  int
	index map[eventKey]struct{}
}

func newDedup() *dedup {
	return &dedup{index: make(map[eventKey]struct{}, dedupSize)}
}

// seen reports whether k was seen among the last dedupSize events, and remembers it.
func (d *dedup) seen(k eventKey) bool {
	if _, ok := d.index[k]; ok {
		return true
	}
	old := d.ring[d.next]
	if old != (eventKey{}) {
		delete(d.index, old)
	}
	d.ring[d.next] = k
	d.index[k] = struct{}{}
	d.next = (d.next + 1) % dedupSize
	return false
}
