package controller

import (
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/informer"
)

const (
	// DefaultCompletedLimit is how many completed deliveries are remembered
	// when Options.CompletedLimit is zero: far more than one checkpoint
	// interval of events on a busy host, about 1 MiB of state file.
	DefaultCompletedLimit = 10000
	// DefaultCompletedMaxAge is how long a completed delivery is remembered
	// when Options.CompletedMaxAge is zero. The engine replays after a
	// restart from a checkpoint at most one interval old: a day covers a
	// daemon that stays down for hours and comes back.
	DefaultCompletedMaxAge = 24 * time.Hour
)

// CompletionJournal is a Journal that also remembers the completed
// deliveries (checkpoint.Store is the real one). A Journal without it lets a
// replayed event run a completed delivery again.
type CompletionJournal interface {
	Journal
	// CompleteDelivery forgets the pending delivery seq and records, under
	// key, that it completed, in the same commit.
	CompleteDelivery(seq uint64, key string, data []byte)
	// ForgetCompleted forgets the completed delivery key (evicted).
	ForgetCompleted(key string)
}

// completedRecord is a completed delivery as journaled. The key holds the
// same rule, engine and event ID.
type completedRecord struct {
	Rule   string `json:"rule"`
	Engine string `json:"engine"`
	Event  string `json:"event"`
	// Outcome is "succeeded" or "given-up".
	Outcome string    `json:"outcome"`
	At      time.Time `json:"at"`
	// Container is the delivery's Key.Container, for the cooldowns
	// (cooldown.go); HasContainer tells "" (an engine's event) from a
	// record written before it was recorded.
	Container    string `json:"container,omitempty"`
	HasContainer bool   `json:"hasContainer,omitempty"`
}

// completedKey is the journal key of the delivery of event eventID of
// engine to rule: names and IDs hold no NUL.
func completedKey(rule, engine, eventID string) string {
	return rule + "\x00" + engine + "\x00" + eventID
}

// completedSet is what the controller knows of completed deliveries: those
// an earlier run recorded (prior, read-only after New: Handle reads it
// without a lock), and, for the bounds, every record the journal holds, in
// completion order.
type completedSet struct {
	limit  int
	maxAge time.Duration
	prior  map[string]struct{}
	// skipped counts the replayed events not run again.
	skipped atomic.Int64

	mu sync.Mutex
	// order are the records the journal holds, oldest first; at is the
	// completion time of each live key (a key evicted from order is forgotten
	// only if it was not recorded again since).
	order []completedEntry
	at    map[string]time.Time
}

type completedEntry struct {
	key string
	at  time.Time
}

// newCompletedSet reads the records of an earlier run: those older than
// maxAge, beyond limit (the oldest), or that do not decode are forgotten in
// j (when not nil), the others are remembered.
func newCompletedSet(records map[string][]byte, limit int, maxAge time.Duration, now time.Time, j CompletionJournal, log logr.Logger) *completedSet {
	if limit <= 0 {
		limit = DefaultCompletedLimit
	}
	if maxAge <= 0 {
		maxAge = DefaultCompletedMaxAge
	}
	s := &completedSet{limit: limit, maxAge: maxAge, prior: map[string]struct{}{}, at: map[string]time.Time{}}
	forget := func(key string) {
		if j != nil {
			j.ForgetCompleted(key)
		}
	}
	entries := make([]completedEntry, 0, len(records))
	for key, data := range records {
		var rec completedRecord
		if err := json.Unmarshal(data, &rec); err != nil || rec.At.IsZero() || strings.Count(key, "\x00") != 2 {
			// Not worth refusing to start over: the worst is one more run.
			log.Info("Forgetting a completed delivery record that does not decode", "key", strings.ReplaceAll(key, "\x00", "/"))
			forget(key)
			continue
		}
		entries = append(entries, completedEntry{key: key, at: rec.At})
	}
	slices.SortFunc(entries, func(a, b completedEntry) int { return a.at.Compare(b.at) })
	aged := 0
	for len(entries) > 0 && now.Sub(entries[0].at) > maxAge {
		forget(entries[0].key)
		entries = entries[1:]
		aged++
	}
	over := max(0, len(entries)-limit)
	for _, e := range entries[:over] {
		forget(e.key)
	}
	entries = entries[over:]
	for _, e := range entries {
		s.prior[e.key] = struct{}{}
		s.at[e.key] = e.at
	}
	s.order = entries
	if len(records) > 0 {
		log.Info("Read the completed deliveries of an earlier run", "remembered", len(entries), "expired", aged, "overLimit", over,
			"limit", limit, "maxAge", maxAge.String())
	}
	return s
}

// done reports whether an earlier run completed the delivery of ev to rule.
func (s *completedSet) done(rule string, ev *informer.Event) bool {
	if len(s.prior) == 0 {
		return false
	}
	_, ok := s.prior[completedKey(rule, ev.Engine, ev.ID)]
	return ok
}

// add records that key completed at now, and returns the keys to forget to
// stay within the bounds.
func (s *completedSet) add(key string, now time.Time) (evict []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.order = append(s.order, completedEntry{key: key, at: now})
	s.at[key] = now
	for len(s.order) > 0 && (len(s.at) > s.limit || now.Sub(s.order[0].at) > s.maxAge) {
		e := s.order[0]
		s.order[0] = completedEntry{}
		s.order = s.order[1:]
		if at, ok := s.at[e.key]; ok && at.Equal(e.at) {
			delete(s.at, e.key)
			evict = append(evict, e.key)
		}
	}
	if cap(s.order) > 2*s.limit && len(s.order) < cap(s.order)/2 {
		s.order = slices.Clone(s.order) // let the evicted head go
	}
	return evict
}

// len returns how many completed deliveries the journal holds.
func (s *completedSet) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.at)
}

// journalComplete forgets d in the journal, and records there that it
// completed (outcome "succeeded" or "given-up") when the journal can: the
// engine may replay its event after a crash.
func (c *Controller) journalComplete(d *delivery, outcome string) {
	cj, ok := c.journal.(CompletionJournal)
	if !ok {
		c.journalDelete(d)
		return
	}
	key, data := c.completedRecord(d, outcome)
	if data == nil {
		c.journalDelete(d)
		return
	}
	cj.CompleteDelivery(d.seq, key, data)
	c.rememberCompleted(key)
}

// completedRecord returns the journal key and record of d's completion with
// outcome; nil data when it does not encode.
func (c *Controller) completedRecord(d *delivery, outcome string) (key string, data []byte) {
	r := c.journalRule(d.Rule)
	data, err := json.Marshal(completedRecord{Rule: r.name, Engine: d.Event.Engine, Event: d.Event.ID, Outcome: outcome, At: c.clock.Now(),
		Container: containerID(d.Event), HasContainer: true})
	if err != nil {
		return "", nil
	}
	return completedKey(r.name, d.Event.Engine, d.Event.ID), data
}

// rememberCompleted counts key, just journaled as completed, in the bounds,
// and forgets in the journal the records beyond them.
func (c *Controller) rememberCompleted(key string) {
	cj, ok := c.journal.(CompletionJournal)
	if !ok {
		return
	}
	for _, k := range c.completed.add(key, c.clock.Now()) {
		cj.ForgetCompleted(k)
	}
}

// skipCompleted reports whether ev is a replay of an event whose delivery to
// rule i an earlier run completed; it logs and counts it.
func (c *Controller) skipCompleted(log logr.Logger, i int, ev *informer.Event) bool {
	s := c.completed
	if !s.done(c.ruleName(i), ev) {
		return false
	}
	s.skipped.Add(1)
	log.V(1).Info("Ignoring a replayed event: its delivery completed in an earlier run", "rule", c.ruleName(i),
		"engine", ev.Engine, "container", containerName(ev), "event", ev.ID)
	return true
}

// ReplaysSkipped returns how many replayed events were not run again because
// an earlier run had completed their delivery.
func (c *Controller) ReplaysSkipped() int64 {
	return c.completed.skipped.Load()
}
