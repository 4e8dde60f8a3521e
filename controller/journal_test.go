package controller

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/reconcile"
)

// memJournal is a Journal in memory: what a state file would hold.
type memJournal struct {
	mu         sync.Mutex
	deliveries map[uint64][]byte
	stateRules map[string][]byte
}

func newMemJournal() *memJournal {
	return &memJournal{deliveries: map[uint64][]byte{}, stateRules: map[string][]byte{}}
}

func (j *memJournal) PutDelivery(seq uint64, data []byte) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.deliveries[seq] = data
}

func (j *memJournal) DeleteDelivery(seq uint64) {
	j.mu.Lock()
	defer j.mu.Unlock()
	delete(j.deliveries, seq)
}

func (j *memJournal) PutStateRule(name string, data []byte) {
	j.mu.Lock()
	defer j.mu.Unlock()
	j.stateRules[name] = data
}

// saved returns the journaled deliveries, as the state file would give them
// back after a crash (in no particular order).
func (j *memJournal) saved() []JournaledDelivery {
	j.mu.Lock()
	defer j.mu.Unlock()
	var out []JournaledDelivery
	for seq, data := range j.deliveries {
		out = append(out, JournaledDelivery{Seq: seq, Data: data})
	}
	return out
}

// stateRule returns what the state rule name recorded.
func (j *memJournal) stateRule(name string) []byte {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.stateRules[name]
}

// len returns the number of journaled deliveries.
func (j *memJournal) len() int {
	j.mu.Lock()
	defer j.mu.Unlock()
	return len(j.deliveries)
}

// newJournalHarness is newHarness with a journal.
func newJournalHarness(t *testing.T, cfg *config.Config, j Journal, fn func(context.Context, reconcile.Command) (reconcile.Result, error)) *harness {
	t.Helper()
	h := newHarness(t, cfg, fn, 2)
	h.c.journal = j
	return h
}

// died returns a die event of container id.
func died(id, eventID string) *informer.Event {
	return &informer.Event{
		ID: eventID, Engine: "local", Type: informer.TypeContainer, Action: "die", ActorID: id,
		Attributes: map[string]string{"exitCode": "137", "name": id},
		Time:       time.Unix(1700000000, 123456789),
		Container:  &informer.Container{ID: id, Engine: "local", Name: id, Image: "mysql", State: informer.StateExited, ExitCode: 137, Labels: map[string]string{"role": "master"}},
	}
}

func TestPendingDeliveriesSurviveACrashAndRunAgainInOrderWithTheSameEventID(t *testing.T) {
	cfg := localConfig(config.Rule{
		Name:   "promote",
		Types:  []string{"die"},
		Action: config.Action{Command: "promote", Retry: config.Retry{MaxAttempts: 5, Backoff: 200 * time.Millisecond}},
	})
	j := newMemJournal()
	before := newJournalHarness(t, cfg, j, func(context.Context, reconcile.Command) (reconcile.Result, error) { return fail() })
	for _, ev := range []*informer.Event{died("db", "ev1"), died("db", "ev2"), died("db", "ev3"), died("web", "ev4")} {
		before.c.Handle(ev)
	}
	if n := j.len(); n != 4 {
		t.Fatalf("%d deliveries journaled when Handle returned, want 4", n)
	}
	before.start()
	// The heads of db and web fail once and wait for their retry; then the
	// daemon dies (what the journal holds now is what the file would hold).
	before.waitFinished(2)
	before.waitLog("Handler failed", 2)
	journaled := j.saved()
	if err := before.stop(); err != nil {
		t.Fatal(err)
	}
	if l := before.logs.Find("Shutting down with pending deliveries, kept in the journal for the next start"); len(l) != 1 {
		t.Errorf("shutdown logged %v, want the pending deliveries kept", l)
	}

	j2 := newMemJournal()
	for _, d := range journaled {
		j2.PutDelivery(d.Seq, d.Data)
	}
	after := newJournalHarness(t, cfg, j2, nil)
	n, err := after.c.Recover(journaled)
	if err != nil || n != 4 {
		t.Fatalf("Recover = %d, %v; want 4 deliveries queued", n, err)
	}
	// The engine replays an event whose delivery is recovered: it is not
	// queued twice.
	after.c.Handle(died("db", "ev3"))
	after.start()
	fin := after.waitFinished(4)
	var db []string
	for _, f := range fin {
		id, attempt := env(t, f.Cmd, "EVENT_ID"), env(t, f.Cmd, "EVENT_ATTEMPT")
		if env(t, f.Cmd, "FROM_CONTAINER") == "db" {
			db = append(db, id+"#"+attempt)
		} else if id != "ev4" || attempt != "2" {
			t.Errorf("web ran %s attempt %s, want ev4 attempt 2", id, attempt)
		}
		if f.Cmd.Script != "promote" || env(t, f.Cmd, "CONTAINER_EXIT_CODE") != "137" || env(t, f.Cmd, "EVENT_TIME") != "2023-11-14T22:13:20.123456789Z" {
			t.Errorf("recovered run %q with env %q: the event changed", f.Cmd.Script, f.Cmd.Env)
		}
		var doc stdinDoc
		if err := json.Unmarshal(f.Cmd.Stdin, &doc); err != nil || doc.Container == nil || doc.Container.Labels["role"] != "master" {
			t.Errorf("recovered stdin %s: %v", f.Cmd.Stdin, err)
		}
	}
	if want := []string{"ev1#2", "ev2#1", "ev3#1"}; !slices.Equal(db, want) {
		t.Errorf("db ran %v, want %v: in order, the same EVENT_IDs, attempts going on", db, want)
	}
	if n := j2.len(); n != 0 {
		t.Errorf("%d deliveries still journaled after they succeeded", n)
	}
	// A new event after the recovered ones gets a fresh journal number.
	after.c.Handle(died("db", "ev5"))
	after.waitFinished(5)
	var ids []string
	for _, f := range after.runner.Finished() {
		ids = append(ids, env(t, f.Cmd, "EVENT_ID"))
	}
	if slices.Sort(ids); !slices.Equal(ids, []string{"ev1", "ev2", "ev3", "ev4", "ev5"}) {
		t.Errorf("ran %v, want each event once (the replayed ev3 not again)", ids)
	}
	if got := after.c.seq.Load(); got <= slices.MaxFunc(journaled, func(a, b JournaledDelivery) int { return int(a.Seq) - int(b.Seq) }).Seq {
		t.Errorf("sequence %d reuses a journaled number", got)
	}
}

func TestGivenUpDeliveryLeavesTheJournal(t *testing.T) {
	cfg := localConfig(config.Rule{Name: "r", Types: []string{"die"}, Action: config.Action{Command: "x", Retry: config.Retry{MaxAttempts: 2, Backoff: time.Millisecond}}})
	j := newMemJournal()
	h := newJournalHarness(t, cfg, j, func(context.Context, reconcile.Command) (reconcile.Result, error) { return fail() })
	h.start()
	h.c.Handle(died("db", "ev1"))
	h.waitLog("Handler failed, giving up", 1)
	if n := j.len(); n != 0 {
		t.Errorf("%d deliveries journaled after giving up, want 0", n)
	}
}

func TestRecoverDropsDeliveriesItCannotRunAsBefore(t *testing.T) {
	cfg := localConfig(
		config.Rule{Name: "kept", Types: []string{"die"}, Action: config.Action{Command: "x"}},
		config.Rule{Name: "now-start-only", Types: []string{"start"}, Action: config.Action{Command: "y"}},
		config.Rule{Name: "rule-3", Types: []string{"die"}, Action: config.Action{Command: "new command"}},
	)
	record := func(rule, command string, ev *informer.Event) []byte {
		evJSON, _ := json.Marshal(ev)
		data, _ := json.Marshal(journalRecord{Rule: rule, Command: command, Event: evJSON})
		return data
	}
	other := died("x", "ev-other-engine")
	other.Engine = "gone"
	j := newMemJournal()
	journaled := []JournaledDelivery{
		{Seq: 1, Data: record("kept", "x", died("a", "ev1"))},
		{Seq: 2, Data: record("removed", "x", died("a", "ev2"))},
		{Seq: 3, Data: record("now-start-only", "y", died("a", "ev3"))},
		{Seq: 4, Data: record("rule-3", "old command", died("a", "ev4"))},
		{Seq: 5, Data: record("kept", "x", other)},
	}
	for _, d := range journaled {
		j.PutDelivery(d.Seq, d.Data)
	}
	h := newJournalHarness(t, cfg, j, nil)
	log := h.logs.Logger() // Options.Logger: Recover runs before Run
	h.c.log.Store(&log)
	n, err := h.c.Recover(journaled)
	if err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want 1", n, err)
	}
	dropped := h.logs.Find("Dropping a pending delivery of an earlier run")
	var why []string
	for _, e := range dropped {
		why = append(why, e.Values["event"].(string)+": "+e.Values["reason"].(string))
	}
	want := []string{
		"ev2: no rule of this name with a command",
		"ev3: the rule no longer matches the event",
		"ev4: the rule of this name has another command",
		"ev-other-engine: engine no longer configured",
	}
	if !slices.Equal(why, want) {
		t.Errorf("dropped %q, want %q", why, want)
	}
	j.mu.Lock()
	_, kept := j.deliveries[1]
	left := len(j.deliveries)
	j.mu.Unlock()
	if !kept || left != 1 {
		t.Errorf("journal keeps %d deliveries (1 there: %v), want only the recovered one", left, kept)
	}
	h.start()
	if cmd := h.waitStarted(1)[0]; env(t, cmd, "EVENT_ID") != "ev1" {
		t.Errorf("ran %s, want ev1", env(t, cmd, "EVENT_ID"))
	}
}

func TestRecoverRefusesADamagedRecord(t *testing.T) {
	h := newJournalHarness(t, localConfig(config.Rule{Name: "r", Action: config.Action{Command: "x"}}), newMemJournal(), nil)
	_, err := h.c.Recover([]JournaledDelivery{{Seq: 9, Data: []byte(`{"rule":"r","event":7}`)}})
	if err == nil || !strings.Contains(err.Error(), "pending delivery 9") {
		t.Fatalf("Recover = %v, want an error naming delivery 9", err)
	}
}

func TestStateRuleDoesNotRunAgainAfterARestartForTheSetOfItsLastSuccess(t *testing.T) {
	rule := config.StateRule{Name: "masters", Selector: config.Selector{FromContainer: "db-*"}, Status: []string{config.StatusRunning}, Action: config.Action{Command: "x"}}
	j := newMemJournal()
	first := newStateHarness(t, stateConfig(rule), nil)
	first.c.journal = j
	first.runEngine("a")
	first.runEngine("b")
	first.start()
	first.wantRuns(1, "first start")
	if j.stateRule("masters") == nil {
		t.Fatal("the successful run was not recorded")
	}

	restart := func(r config.StateRule) *stateHarness {
		sh := newStateHarness(t, stateConfig(r), nil)
		sh.c.journal, sh.c.stateResume = j, map[string][]byte{"masters": j.stateRule("masters")}
		sh.runEngine("a")
		sh.runEngine("b")
		sh.start()
		return sh
	}
	second := restart(rule)
	second.step(time.Minute)
	second.wantRuns(0, "restart with the set unchanged")
	second.startContainer("a", "db-1", nil)
	second.wantRuns(1, "db-1 started after the restart")

	changed := rule
	changed.Command = "y"
	third := restart(changed)
	third.wantRuns(1, "restart with another command")
}
