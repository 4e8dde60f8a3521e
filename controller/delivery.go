package controller

import (
	"sync"
	"time"

	"github.com/samalba/docker-eventsd/informer"
)

// Key is what the workqueue holds: one rule on one container, or on one engine
// for the engine's own events. The deliveries of a key run one at a time, in
// the order their events arrived; different keys run in parallel.
type Key struct {
	// Rule is the index of the rule in Config.Rules.
	Rule int
	// Engine is the engine's name.
	Engine string
	// Container is the container ID, "" for engine events.
	Container string
}

// delivery is one run-until-done of a rule's command for one event: its
// attempts share the event, and so EVENT_ID.
type delivery struct {
	// Event is what happened; shared, never modified.
	Event *informer.Event
	// Rule is the index of the rule in Config.Rules.
	Rule int
	// Attempt counts the attempts already made (and failed): EVENT_ATTEMPT is
	// Attempt+1 on the next run.
	Attempt int
	// NotBefore is when the next attempt may start: zero until an attempt failed.
	NotBefore time.Time
	// Enqueued is when Handle queued the delivery.
	Enqueued time.Time

	// stdin is the JSON document for the handler, made on the first attempt.
	stdin []byte
	// commandDone is set once the command succeeded, when a webhook is
	// still to be sent: later attempts only send the webhook.
	commandDone bool
	// seq is the delivery's number in the journal.
	seq uint64
	// eventJSON is Event encoded for the journal, nil until then.
	eventJSON []byte
}

// pendingStore holds the deliveries beside the workqueue, a FIFO per key,
// because the workqueue deduplicates keys and would otherwise lose events.
//
// Only the worker that got a key from the workqueue reads or changes the
// fields of that key's head delivery; the workqueue never hands a key to two
// workers at once, and its lock orders one worker's changes before the next
// one's reads.
type pendingStore struct {
	mu sync.Mutex
	// byKey holds the deliveries of each key, oldest first. The head stays in
	// place while it runs and while it waits for a retry.
	byKey map[Key][]*delivery
	// n is the number of deliveries in byKey.
	n int
	// rules counts the deliveries of each rule, by Key.Rule (for metrics).
	rules map[int]int
	// closed is set at shutdown: push then refuses new deliveries.
	closed bool
}

// push appends d to the FIFO of k. It returns false, and keeps nothing, once
// the store is closed.
func (p *pendingStore) push(k Key, d *delivery) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	if p.byKey == nil {
		p.byKey = make(map[Key][]*delivery)
	}
	p.byKey[k] = append(p.byKey[k], d)
	p.n++
	if p.rules == nil {
		p.rules = make(map[int]int)
	}
	p.rules[k.Rule]++
	return true
}

// head returns the oldest delivery of k, or nil.
func (p *pendingStore) head(k Key) *delivery {
	p.mu.Lock()
	defer p.mu.Unlock()
	if q := p.byKey[k]; len(q) > 0 {
		return q[0]
	}
	return nil
}

// pop removes the oldest delivery of k and reports whether more are waiting.
func (p *pendingStore) pop(k Key) (more bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	q := p.byKey[k]
	if len(q) == 0 {
		return false
	}
	q[0] = nil // let the event be collected
	q = q[1:]
	p.n--
	p.rules[k.Rule]--
	if len(q) == 0 {
		delete(p.byKey, k)
		return false
	}
	p.byKey[k] = q
	return true
}

// perRule returns the number of deliveries held of each of the first n
// rules.
func (p *pendingStore) perRule(n int) []int {
	out := make([]int, n)
	p.mu.Lock()
	defer p.mu.Unlock()
	for r, c := range p.rules {
		if r >= 0 && r < n {
			out[r] = c
		}
	}
	return out
}

// close makes push refuse new deliveries.
func (p *pendingStore) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.closed = true
}

// len returns the number of deliveries held, running ones included.
func (p *pendingStore) len() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.n
}

// each calls f for every delivery held, key by key, oldest first within a key.
// f must not call the store.
func (p *pendingStore) each(f func(k Key, d *delivery)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k, q := range p.byKey {
		for _, d := range q {
			f(k, d)
		}
	}
}
