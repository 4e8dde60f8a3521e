package controller

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/reconcile"
)

const (
	// DefaultDeadLetterLimit is how many dead letters are kept without a
	// journal (no --state-dir), when Options.DeadLetterLimit is zero: the
	// oldest is dropped for a new one beyond it. With the output bound below
	// that is at most about 8 MiB.
	DefaultDeadLetterLimit = 1000
	// DefaultDurableDeadLetterLimit is the same bound with a journal (the
	// state file): the list is also kept in memory, to be listed.
	DefaultDurableDeadLetterLimit = 10000
	// deadOutputMax is how much of each output stream of the last attempt a
	// dead letter keeps: its last bytes.
	deadOutputMax = 4 << 10
)

// Errors of the dead-letter operations.
var (
	// ErrNoDeadLetter is a dead letter ID that is not (or no longer) kept.
	ErrNoDeadLetter = errors.New("no such dead letter")
	// ErrRuleGone is a dead letter whose rule is no longer in the config, or
	// has no command any more: it cannot be retried, only dropped.
	ErrRuleGone = errors.New("the dead letter's rule is no longer in the config with a command")
	// ErrStopping is a retry asked during shutdown.
	ErrStopping = errors.New("the daemon is shutting down")
)

// DeadLetterJournal is a Journal that also keeps the dead letters
// (checkpoint.Store is the real one). Without it, dead letters are kept in
// memory only, and a given-up delivery is recorded as completed.
type DeadLetterJournal interface {
	Journal
	// GiveUpDelivery forgets the pending delivery seq, records under key that
	// it completed (completed), and keeps the dead letter seq (dead), in one
	// commit.
	GiveUpDelivery(seq uint64, key string, completed, dead []byte)
	// ReviveDeadLetter forgets the dead letter id and records the pending
	// delivery seq (data) in one commit.
	ReviveDeadLetter(id, seq uint64, data []byte)
	// DeleteDeadLetter forgets the dead letter id.
	DeleteDeadLetter(id uint64)
}

// DeadLetter is a delivery given up: its attempts used up, or its last
// attempt ended with one of the rule's permanent exit codes. It is what
// `docker-eventsd dead list` shows and the state file keeps.
type DeadLetter struct {
	// ID is the delivery's sequence number: unique among the deliveries and
	// dead letters kept, across restarts with a state file too.
	ID uint64 `json:"id"`
	// Rule is the rule's name.
	Rule string `json:"rule"`
	// Engine and Container name where the event happened (Container is
	// empty for engine events).
	Engine    string `json:"engine"`
	Container string `json:"container,omitempty"`
	// Event is the event, as the handler got it: a retry runs it again with
	// the same EVENT_ID.
	Event *informer.Event `json:"event"`
	// Attempts is the number of attempts made.
	Attempts int `json:"attempts"`
	// ExitCode, TimedOut, Error: how the last attempt ended.
	ExitCode int    `json:"exitCode"`
	TimedOut bool   `json:"timedOut,omitempty"`
	Error    string `json:"error,omitempty"`
	// Permanent is set when ExitCode is one of the rule's
	// retry.permanent_exit_codes: the delivery was not retried.
	Permanent bool `json:"permanent,omitempty"`
	// Stdout and Stderr are the last output of the last attempt: the last
	// 4 KiB of each; Truncated is set when some was dropped.
	Stdout    string `json:"stdout,omitempty"`
	Stderr    string `json:"stderr,omitempty"`
	Truncated bool   `json:"truncated,omitempty"`
	// Enqueued is when the delivery was first queued, At when it was given
	// up.
	Enqueued time.Time `json:"enqueued"`
	At       time.Time `json:"at"`
}

// deadSet is the dead letters, oldest first (in the order they were given
// up), bounded.
type deadSet struct {
	mu      sync.Mutex
	limit   int
	letters []*DeadLetter
}

// add keeps l and returns the letters dropped to stay within the bound.
func (s *deadSet) add(l *DeadLetter) (evicted []*DeadLetter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.letters = append(s.letters, l)
	if over := len(s.letters) - s.limit; over > 0 {
		evicted = slices.Clone(s.letters[:over])
		s.letters = slices.Delete(s.letters, 0, over)
	}
	return evicted
}

// take removes and returns the letter id, nil when there is none.
func (s *deadSet) take(id uint64) *DeadLetter {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := slices.IndexFunc(s.letters, func(l *DeadLetter) bool { return l.ID == id })
	if i < 0 {
		return nil
	}
	l := s.letters[i]
	s.letters = slices.Delete(s.letters, i, i+1)
	return l
}

// putBack puts l back where its At says (a retry that could not be queued).
func (s *deadSet) putBack(l *DeadLetter) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i, _ := slices.BinarySearchFunc(s.letters, l.At, func(x *DeadLetter, t time.Time) int { return x.At.Compare(t) })
	s.letters = slices.Insert(s.letters, i, l)
}

// list returns copies of the letters, oldest first.
func (s *deadSet) list() []DeadLetter {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]DeadLetter, len(s.letters))
	for i, l := range s.letters {
		out[i] = *l
	}
	return out
}

// ids returns the IDs of the letters, oldest first.
func (s *deadSet) ids() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]uint64, len(s.letters))
	for i, l := range s.letters {
		out[i] = l.ID
	}
	return out
}

// byRule counts the letters of each rule name.
func (s *deadSet) byRule() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]int{}
	for _, l := range s.letters {
		out[l.Rule]++
	}
	return out
}

// newDeadSet returns the dead letters an earlier run kept (records, from the
// journal), oldest first, with the bound; bad are the IDs of the records that
// do not decode.
func newDeadSet(records []JournaledDelivery, limit int, durable bool) (s *deadSet, bad []uint64) {
	if limit <= 0 {
		limit = DefaultDeadLetterLimit
		if durable {
			limit = DefaultDurableDeadLetterLimit
		}
	}
	s = &deadSet{limit: limit}
	for _, r := range records {
		l := &DeadLetter{}
		if err := json.Unmarshal(r.Data, l); err != nil || l.Event == nil {
			bad = append(bad, r.Seq)
			continue
		}
		l.ID = r.Seq
		s.letters = append(s.letters, l)
	}
	slices.SortStableFunc(s.letters, func(a, b *DeadLetter) int { return a.At.Compare(b.At) })
	return s, bad
}

// deadCounts returns the dead letters of each rule in force by id, for
// eventsd_dead_letters.
func (c *Controller) deadCounts() []int {
	rs := c.rules.Load()
	byName := c.dead.byRule()
	out := make([]int, len(rs.last))
	for _, r := range rs.active {
		out[r.id] = byName[r.name]
	}
	return out
}

// isPermanent reports whether the attempt that ended with res is not to be
// retried: its exit code is one of the rule's permanent exit codes.
func (r *rule) isPermanent(res reconcile.Result, err error) bool {
	return err != nil && !res.TimedOut && res.ExitCode > 0 && slices.Contains(r.cfg.Retry.PermanentExitCodes, res.ExitCode)
}

// giveUp ends d, the head delivery of key, whose last attempt failed with res
// and err: it becomes a dead letter (in the journal too), the key goes on
// with its next delivery.
func (c *Controller) giveUp(log logr.Logger, key Key, r *rule, d *delivery, res reconcile.Result, err error, permanent bool) {
	now := c.clock.Now()
	l := &DeadLetter{
		ID: d.seq, Rule: r.name, Engine: d.Event.Engine, Container: containerName(d.Event), Event: d.Event,
		Attempts: d.Attempt, ExitCode: res.ExitCode, TimedOut: res.TimedOut, Permanent: permanent,
		Stdout: lastBytes(res.Stdout, deadOutputMax), Stderr: lastBytes(res.Stderr, deadOutputMax),
		Truncated: res.Truncated || len(res.Stdout) > deadOutputMax || len(res.Stderr) > deadOutputMax,
		Enqueued:  d.Enqueued, At: now,
	}
	if err != nil {
		l.Error = err.Error()
	}
	c.bury(log, d, l)
	more := c.pending.pop(key)
	c.queue.Forget(key)
	if more {
		c.queue.Add(key)
	}
}

// bury keeps l, the dead letter of d, and journals it in place of d.
func (c *Controller) bury(log logr.Logger, d *delivery, l *DeadLetter) {
	for _, old := range c.dead.add(l) {
		log.Info("Dropping the oldest dead letter: the list is full", "limit", c.dead.limit, "id", old.ID, "rule", old.Rule,
			"engine", old.Engine, "container", old.Container, "event", old.Event.ID)
		if dj, ok := c.journal.(DeadLetterJournal); ok {
			dj.DeleteDeadLetter(old.ID)
		}
	}
	dj, ok := c.journal.(DeadLetterJournal)
	if !ok {
		c.journalComplete(d, "given-up")
		return
	}
	data, err := json.Marshal(l)
	if err != nil {
		log.Error(err, "Journaling a dead letter failed", "id", l.ID)
		c.journalComplete(d, "given-up")
		return
	}
	key, completed := c.completedRecord(d, "given-up")
	dj.GiveUpDelivery(d.seq, key, completed, data)
	if key != "" {
		c.rememberCompleted(key)
	}
}

// lastBytes returns the last n bytes of b as a string.
func lastBytes(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// DeadLetters returns the dead letters, oldest first.
func (c *Controller) DeadLetters() []DeadLetter { return c.dead.list() }

// DeadLetterCount returns the number of dead letters.
func (c *Controller) DeadLetterCount() int {
	c.dead.mu.Lock()
	defer c.dead.mu.Unlock()
	return len(c.dead.letters)
}

// DropDeadLetter forgets the dead letter id (and in the journal).
func (c *Controller) DropDeadLetter(id uint64) error {
	l := c.dead.take(id)
	if l == nil {
		return fmt.Errorf("dead letter %d: %w", id, ErrNoDeadLetter)
	}
	if dj, ok := c.journal.(DeadLetterJournal); ok {
		dj.DeleteDeadLetter(id)
	}
	c.logger().Info("Dropped a dead letter", "id", id, "rule", l.Rule, "engine", l.Engine, "container", l.Container, "event", l.Event.ID)
	return nil
}

// RetryDeadLetter queues the dead letter id again as a fresh delivery of the
// same event (the same EVENT_ID) to its rule as the config has it now, with
// its attempts reset; the dead letter is forgotten. It returns the ID of the
// new delivery (its sequence number).
func (c *Controller) RetryDeadLetter(id uint64) (uint64, error) {
	if c.stopping.Load() {
		return 0, ErrStopping
	}
	l := c.dead.take(id)
	if l == nil {
		return 0, fmt.Errorf("dead letter %d: %w", id, ErrNoDeadLetter)
	}
	rs := c.rules.Load()
	i, ok := rs.ids[l.Rule]
	var r *rule
	if ok {
		r = rs.byID[i]
	}
	if r == nil || r.cfg.Command == "" {
		c.dead.putBack(l)
		return 0, fmt.Errorf("dead letter %d of rule %q: %w", id, l.Rule, ErrRuleGone)
	}
	d := &delivery{Event: l.Event, Rule: r.id, Enqueued: c.clock.Now(), seq: c.seq.Add(1)}
	k := Key{Rule: r.id, Engine: l.Event.Engine, Container: containerID(l.Event)}
	if dj, ok := c.journal.(DeadLetterJournal); ok {
		if data, err := c.journalData(d); err == nil {
			dj.ReviveDeadLetter(id, d.seq, data)
		}
	}
	if !c.pending.push(k, d) {
		c.journalDelete(d)
		c.dead.putBack(l)
		return 0, ErrStopping
	}
	c.queue.Add(k)
	c.logger().Info("Retrying a dead letter", "id", id, "delivery", d.seq, "rule", r.name, "engine", l.Engine,
		"container", l.Container, "event", l.Event.ID)
	return d.seq, nil
}

// RetryAllDeadLetters retries every dead letter (RetryDeadLetter) and
// returns how many were queued; those that cannot be (their rule is gone)
// stay, and are reported in the error.
func (c *Controller) RetryAllDeadLetters() (int, error) {
	n := 0
	var errs []error
	for _, id := range c.dead.ids() {
		if _, err := c.RetryDeadLetter(id); err != nil {
			if errors.Is(err, ErrNoDeadLetter) {
				continue // dropped or retried meanwhile
			}
			errs = append(errs, err)
			if errors.Is(err, ErrStopping) {
				break
			}
			continue
		}
		n++
	}
	return n, errors.Join(errs...)
}

// initDead sets up the dead letters from opts (those of an earlier run, and
// the bound) and makes them eventsd_dead_letters. A record that does not
// decode is logged and forgotten; those beyond the bound are dropped.
func (c *Controller) initDead(opts Options, log logr.Logger) {
	dj, durable := opts.Journal.(DeadLetterJournal)
	s, bad := newDeadSet(opts.DeadLetterRecords, opts.DeadLetterLimit, durable)
	for _, id := range bad {
		log.Info("Forgetting a dead letter of an earlier run that does not decode", "id", id)
		if durable {
			dj.DeleteDeadLetter(id)
		}
	}
	for _, r := range opts.DeadLetterRecords {
		c.seq.Store(max(c.seq.Load(), r.Seq)) // new deliveries never take a dead letter's ID
	}
	if over := len(s.letters) - s.limit; over > 0 {
		for _, l := range s.letters[:over] {
			if durable {
				dj.DeleteDeadLetter(l.ID)
			}
		}
		s.letters = slices.Delete(s.letters, 0, over)
		log.Info("Dropped the oldest dead letters of an earlier run: beyond the bound", "dropped", over, "limit", s.limit)
	}
	if len(s.letters) > 0 {
		log.Info("Read the dead letters of an earlier run", "deadLetters", len(s.letters))
	}
	c.dead = s
	c.SetDeadLetters(c.deadCounts)
}
