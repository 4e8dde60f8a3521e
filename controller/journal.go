package controller

import (
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// Journal makes pending deliveries, and what state rules remember, survive a
// restart of the daemon (checkpoint.Store is the real one). Its methods are
// called from Handle and from workers: they must not wait for the disk. The
// journal must write a delivery before any checkpoint that covers its event
// (Handle puts it before it returns; the informer moves its checkpoint only
// after Handle returned).
type Journal interface {
	// PutDelivery records the pending delivery seq, or its new data.
	PutDelivery(seq uint64, data []byte)
	// DeleteDelivery forgets the delivery seq: it succeeded or was given up.
	DeleteDelivery(seq uint64)
	// PutStateRule records what the state rule name remembers.
	PutStateRule(name string, data []byte)
}

// JournaledDelivery is a delivery read back from the journal.
type JournaledDelivery struct {
	// Seq orders the deliveries: a key's deliveries run in Seq order.
	Seq  uint64
	Data []byte
}

// journalRecord is a pending delivery as journaled.
type journalRecord struct {
	// Rule is the rule's name. Command is its command then: a rule named
	// by its position (rule-N) must still have it to be the same rule.
	Rule    string          `json:"rule"`
	Command string          `json:"command"`
	Event   json.RawMessage `json:"event,omitempty"`
	// Attempt counts the attempts that ended in failure.
	Attempt   int       `json:"attempt"`
	NotBefore time.Time `json:"notBefore,omitzero"`
	Enqueued  time.Time `json:"enqueued"`
}

// stateRecord is what a state rule remembers across restarts: the hash of
// the set of its last successful run, and the command that ran.
type stateRecord struct {
	Hash    string `json:"hash"`
	Command string `json:"command"`
}

// journalPut writes d to the journal, if there is one. Only Handle (before
// the delivery is queued) and the worker holding d's key call it.
func (c *Controller) journalPut(d *delivery) {
	if c.journal == nil {
		return
	}
	if data, err := c.journalData(d); err == nil {
		c.journal.PutDelivery(d.seq, data)
	}
}

// journalData returns the journal record of d, encoding its event the first
// time.
func (c *Controller) journalData(d *delivery) ([]byte, error) {
	r := c.journalRule(d.Rule)
	if d.eventJSON == nil {
		var err error
		if d.eventJSON, err = json.Marshal(d.Event); err != nil {
			// An Event always encodes; keep going without the journal.
			c.logger().Error(err, "Journaling a delivery failed", "rule", r.name, "event", d.Event.ID)
			return nil, err
		}
	}
	// The event is spliced in as it is: json.Marshal would scan a
	// RawMessage again, and Handle pays for it.
	head, err := json.Marshal(journalRecord{
		Rule: r.name, Command: r.cfg.Command,
		Attempt: d.Attempt, NotBefore: d.NotBefore, Enqueued: d.Enqueued,
	})
	if err != nil {
		c.logger().Error(err, "Journaling a delivery failed", "rule", r.name, "event", d.Event.ID)
		return nil, err
	}
	data := make([]byte, 0, len(head)+len(d.eventJSON)+10)
	data = append(data, head[:len(head)-1]...)
	data = append(data, `,"event":`...)
	data = append(data, d.eventJSON...)
	data = append(data, '}')
	return data, nil
}

// journalDelete forgets d in the journal, if there is one.
func (c *Controller) journalDelete(d *delivery) {
	if c.journal != nil {
		c.journal.DeleteDelivery(d.seq)
	}
}

// Recover queues the deliveries an earlier run of the daemon journaled and
// did not finish, before any new event: each key's in journal order, with
// the same event (and EVENT_ID), its attempt count going on. A delivery whose
// rule is gone (or, named rule-N, has another command now), no longer
// matches its event, or names an engine no longer configured is dropped and
// logged. Call it after New, before the informers run and before Run. It
// returns how many deliveries were queued, and an error for a record that
// does not decode (the journal is damaged).
func (c *Controller) Recover(journaled []JournaledDelivery) (int, error) {
	log := c.logger()
	rules := c.rules.Load().byID
	byName := make(map[string]int, len(rules))
	for i := range rules {
		byName[rules[i].name] = i
	}
	journaled = slices.Clone(journaled)
	slices.SortFunc(journaled, func(a, b JournaledDelivery) int {
		if a.Seq < b.Seq {
			return -1
		}
		if a.Seq > b.Seq {
			return 1
		}
		return 0
	})
	n := 0
	for _, j := range journaled {
		if j.Seq > c.seq.Load() {
			c.seq.Store(j.Seq)
		}
		var rec journalRecord
		ev := &informer.Event{}
		if err := json.Unmarshal(j.Data, &rec); err != nil {
			return n, fmt.Errorf("pending delivery %d: %w", j.Seq, err)
		}
		if err := json.Unmarshal(rec.Event, ev); err != nil {
			return n, fmt.Errorf("event of pending delivery %d: %w", j.Seq, err)
		}
		drop := func(why string) {
			log.Info("Dropping a pending delivery of an earlier run", "reason", why, "rule", rec.Rule,
				"engine", ev.Engine, "container", containerName(ev), "event", ev.ID, "attempts", rec.Attempt)
			if c.journal != nil {
				c.journal.DeleteDelivery(j.Seq)
			}
		}
		i, ok := byName[rec.Rule]
		switch {
		case !ok || rules[i].cfg.Command == "" && rules[i].cfg.Webhook == nil:
			drop("no rule of this name with a command")
			continue
		case isPositionalName(rules[i].cfg, i) && rules[i].cfg.Command != rec.Command:
			drop("the rule of this name has another command")
			continue
		case c.engine(ev.Engine) == nil:
			drop("engine no longer configured")
			continue
		case !rules[i].match.match(ev):
			drop("the rule no longer matches the event")
			continue
		}
		d := &delivery{
			Event: ev, Rule: i, Attempt: rec.Attempt, NotBefore: rec.NotBefore, Enqueued: rec.Enqueued,
			seq: j.Seq, eventJSON: rec.Event,
		}
		k := Key{Rule: i, Engine: ev.Engine, Container: containerID(ev)}
		if !c.pending.push(k, d) {
			break
		}
		c.queue.Add(k)
		c.recovered.add(i, ev.ID)
		n++
		log.V(1).Info("Recovered a pending delivery", "rule", rec.Rule, "engine", ev.Engine,
			"container", containerName(ev), "event", ev.ID, "attempts", rec.Attempt)
	}
	if n > 0 || len(journaled) > 0 {
		log.Info("Recovered pending deliveries of an earlier run", "queued", n, "journaled", len(journaled))
	}
	return n, nil
}

// isPositionalName reports whether r, the rule at index i, has the name the
// config gives a rule without one: such a name says where the rule is, not
// which rule it is.
func isPositionalName(r *config.Rule, i int) bool {
	return r.Name == "" || r.Name == fmt.Sprintf("rule-%d", i+1)
}

// resumeState gives m what its rule remembered from an earlier run: the hash
// of the set of its last successful run, for the changed trigger, when the
// command is the same. The set is then not run again at start-up if it did
// not change.
func (c *Controller) resumeState(m *stateMachine) {
	data, ok := c.stateResume[m.rule.name]
	if !ok || m.rule.reloaded || m.rule.trigger != config.TriggerChanged {
		return
	}
	var rec stateRecord
	if err := json.Unmarshal(data, &rec); err != nil || rec.Command != m.rule.cfg.Command || rec.Hash == "" {
		return
	}
	m.okHash, m.okSet = rec.Hash, true
}

// journalState records the successful run of the state rule of m with the
// set hash.
func (c *Controller) journalState(m *stateMachine, hash string) {
	if c.journal == nil || m.rule.trigger != config.TriggerChanged {
		return
	}
	data, err := json.Marshal(stateRecord{Hash: hash, Command: m.rule.cfg.Command})
	if err != nil {
		return
	}
	c.journal.PutStateRule(m.rule.name, data)
}

// recoveredSet is the (rule, event ID) of the recovered deliveries. It is
// written by Recover only, before any Handle, and costs Handle one atomic
// load when empty.
type recoveredSet struct {
	any atomic.Bool
	mu  sync.Mutex
	set map[recoveredKey]struct{}
}

type recoveredKey struct {
	rule    int
	eventID string
}

func (r *recoveredSet) add(rule int, eventID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.set == nil {
		r.set = map[recoveredKey]struct{}{}
	}
	r.set[recoveredKey{rule, eventID}] = struct{}{}
	r.any.Store(true)
}

// has reports whether a delivery of the event to the rule was recovered.
func (r *recoveredSet) has(rule int, eventID string) bool {
	if !r.any.Load() {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	_, ok := r.set[recoveredKey{rule, eventID}]
	return ok
}
