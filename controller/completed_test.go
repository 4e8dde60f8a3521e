package controller

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	clocktesting "k8s.io/utils/clock/testing"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/reconcile"
)

// completionJournal is a memJournal that remembers completed deliveries, as
// the state file does.
type completionJournal struct {
	*memJournal
	cmu       sync.Mutex
	completed map[string][]byte
}

func newCompletionJournal() *completionJournal {
	return &completionJournal{memJournal: newMemJournal(), completed: map[string][]byte{}}
}

func (j *completionJournal) CompleteDelivery(seq uint64, key string, data []byte) {
	// One lock over both, as one commit of the state file.
	j.mu.Lock()
	defer j.mu.Unlock()
	j.cmu.Lock()
	defer j.cmu.Unlock()
	delete(j.deliveries, seq)
	j.completed[key] = data
}

func (j *completionJournal) ForgetCompleted(key string) {
	j.cmu.Lock()
	defer j.cmu.Unlock()
	delete(j.completed, key)
}

// records returns the completed deliveries, as the state file gives them back.
func (j *completionJournal) records() map[string][]byte {
	j.cmu.Lock()
	defer j.cmu.Unlock()
	return maps.Clone(j.completed)
}

var _ CompletionJournal = (*completionJournal)(nil)

// newRestartedHarness is newHarness for a controller that reads what an
// earlier run left in j: records are its completed deliveries.
func newRestartedHarness(t *testing.T, cfg *config.Config, j CompletionJournal, records map[string][]byte, fn func(context.Context, reconcile.Command) (reconcile.Result, error)) *harness {
	t.Helper()
	h := newHarness(t, cfg, fn, 2)
	h.c = New(Options{
		Config: cfg, Runner: h.runner, Workers: 2, Grace: time.Second, Environ: []string{"PATH=/usr/bin:/bin"},
		Logger: h.logs.Logger(), Journal: j, CompletedRecords: records,
	})
	return h
}

func TestReplayedEventWhoseDeliveryCompletedBeforeACrashDoesNotRunAgain(t *testing.T) {
	cfg := localConfig(config.Rule{
		Name:   "promote",
		Types:  []string{"die"},
		Action: config.Action{Command: "promote", Retry: config.Retry{MaxAttempts: 5, Backoff: 2 * time.Second}},
	})
	j := newCompletionJournal()
	before := newRestartedHarness(t, cfg, j, nil, func(_ context.Context, cmd reconcile.Command) (reconcile.Result, error) {
		if v, _ := envOf(cmd, "EVENT_ID"); v == "pending" {
			return fail()
		}
		return reconcile.Result{}, nil
	})
	before.start()
	for _, id := range []string{"done", "pending", "unsynced"} {
		before.c.Handle(died(id, id))
	}
	before.waitFinished(3)
	before.waitLog("Handler succeeded", 2)
	before.waitLog("Handler failed", 1)
	// SIGKILL: what the file holds now is what the next run reads. The
	// completion of "unsynced" was still in the fsync window: not on disk.
	journaled, records := j.saved(), j.records()
	if len(journaled) != 1 || len(records) != 2 {
		t.Fatalf("journal holds %d pending and %d completed deliveries, want 1 and 2", len(journaled), len(records))
	}
	delete(records, completedKey("promote", "local", "unsynced"))
	if err := before.stop(); err != nil {
		t.Fatal(err)
	}

	j2 := newCompletionJournal()
	for _, d := range journaled {
		j2.PutDelivery(d.Seq, d.Data)
	}
	after := newRestartedHarness(t, cfg, j2, records, nil)
	if n, err := after.c.Recover(journaled); err != nil || n != 1 {
		t.Fatalf("Recover = %d, %v; want the pending delivery queued", n, err)
	}
	// The engine replays the three events from its checkpoint.
	for _, id := range []string{"done", "pending", "unsynced"} {
		after.c.Handle(died(id, id))
	}
	after.start()
	after.waitFinished(2)
	after.waitLog("Handler succeeded", 2)
	var ran []string
	for _, f := range after.runner.Finished() {
		ran = append(ran, env(t, f.Cmd, "EVENT_ID")+"#"+env(t, f.Cmd, "EVENT_ATTEMPT"))
	}
	slices.Sort(ran)
	if want := []string{"pending#2", "unsynced#1"}; !slices.Equal(ran, want) {
		t.Errorf("after the restart ran %v, want %v: the completed delivery not again, the others again", ran, want)
	}
	if n := after.c.ReplaysSkipped(); n != 1 {
		t.Errorf("ReplaysSkipped = %d, want 1", n)
	}
	skips := after.logs.Find("Ignoring a replayed event: its delivery completed in an earlier run")
	if len(skips) != 1 || !strings.Contains(fmt.Sprint(skips[0]), "done") || !strings.Contains(fmt.Sprint(skips[0]), "promote") {
		t.Errorf("skip logged %v, want one line naming rule promote and event done", skips)
	}
	// The new run records its completions, and keeps the earlier run's.
	got := slices.Sorted(maps.Keys(j2.records()))
	want := []string{completedKey("promote", "local", "done"), completedKey("promote", "local", "pending"), completedKey("promote", "local", "unsynced")}
	if len(j2.records()) != 2 || !slices.Contains(got, want[1]) || !slices.Contains(got, want[2]) {
		t.Errorf("completed records of the new run = %q, want pending and unsynced", got)
	}
	if j2.len() != 0 {
		t.Errorf("%d deliveries still pending", j2.len())
	}
}

func TestGivenUpDeliveryIsRecordedAsCompleted(t *testing.T) {
	cfg := localConfig(config.Rule{Name: "r", Types: []string{"die"}, Action: config.Action{Command: "x", Retry: config.Retry{MaxAttempts: 1}}})
	j := newCompletionJournal()
	h := newRestartedHarness(t, cfg, j, nil, func(context.Context, reconcile.Command) (reconcile.Result, error) { return fail() })
	h.start()
	h.c.Handle(died("db", "ev1"))
	h.waitLog("Handler failed, giving up", 1)
	var rec completedRecord
	if err := json.Unmarshal(j.records()[completedKey("r", "local", "ev1")], &rec); err != nil || rec.Outcome != "given-up" || rec.Event != "ev1" {
		t.Errorf("record %+v (%v), want ev1 given up", rec, err)
	}
}

// record returns a completed-delivery record of event id at at.
func record(t *testing.T, id string, at time.Time) (string, []byte) {
	t.Helper()
	data, err := json.Marshal(completedRecord{Rule: "r", Engine: "local", Event: id, Outcome: "succeeded", At: at})
	if err != nil {
		t.Fatal(err)
	}
	return completedKey("r", "local", id), data
}

func TestCompletedDeliveriesOfAnEarlierRunAreBoundedByAgeAndCount(t *testing.T) {
	now := time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		ages   map[string]time.Duration // event ID -> how old its record is
		limit  int
		maxAge time.Duration
		want   []string // remembered, and left in the journal
	}{
		{"defaults keep a day", map[string]time.Duration{"a": time.Minute, "b": 23 * time.Hour, "c": 25 * time.Hour}, 0, 0, []string{"a", "b"}},
		{"older than maxAge forgotten", map[string]time.Duration{"a": time.Second, "b": 2 * time.Minute}, 0, time.Minute, []string{"a"}},
		{"beyond the limit the oldest forgotten", map[string]time.Duration{"a": 1 * time.Second, "b": 2 * time.Second, "c": 3 * time.Second}, 2, 0, []string{"a", "b"}},
		{"garbage forgotten", map[string]time.Duration{"a": time.Second, "bad": -1}, 0, 0, []string{"a"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := newCompletionJournal()
			records := map[string][]byte{}
			for id, age := range tt.ages {
				k, v := record(t, id, now.Add(-age))
				if age < 0 {
					v = []byte("{not json")
				}
				records[k] = v
				j.completed[k] = v
			}
			s := newCompletedSet(records, tt.limit, tt.maxAge, now, j, logr.Discard())
			var kept []string
			for id := range tt.ages {
				if s.done("r", died(id, id)) {
					kept = append(kept, id)
				}
			}
			slices.Sort(kept)
			if !slices.Equal(kept, tt.want) {
				t.Errorf("remembered %v, want %v", kept, tt.want)
			}
			if got := len(j.records()); got != len(tt.want) || s.len() != len(tt.want) {
				t.Errorf("journal keeps %d records, set %d; want %d", got, s.len(), len(tt.want))
			}
		})
	}
}

func TestCompletedDeliveriesOfThisRunAreEvictedByCountAndAge(t *testing.T) {
	cfg := localConfig(config.Rule{Name: "r", Types: []string{"die"}, Action: config.Action{Command: "x"}})
	clk := clocktesting.NewFakeClock(time.Date(2026, 1, 2, 12, 0, 0, 0, time.UTC))
	j := newCompletionJournal()
	k0, v0 := record(t, "old", clk.Now().Add(-time.Minute))
	j.completed[k0] = v0
	h := newHarness(t, cfg, nil, 1)
	h.c = New(Options{Config: cfg, Runner: h.runner, Workers: 1, Journal: j, Clock: clk,
		CompletedRecords: map[string][]byte{k0: v0}, CompletedLimit: 3, CompletedMaxAge: time.Hour})
	h.start()
	ids := func() []string {
		var out []string
		for k := range j.records() {
			out = append(out, k[strings.LastIndexByte(k, 0)+1:])
		}
		slices.Sort(out)
		return out
	}
	for i, id := range []string{"e1", "e2", "e3"} {
		h.c.Handle(died(id, id))
		h.waitLog("Handler succeeded", i+1)
	}
	// Four records for a limit of three: the oldest, of the earlier run, goes.
	if got := ids(); !slices.Equal(got, []string{"e1", "e2", "e3"}) {
		t.Errorf("records after 3 completions = %v, want e1 e2 e3 (old evicted by count)", got)
	}
	// An hour and more later, one more completion evicts the expired ones.
	clk.Step(time.Hour + time.Second)
	h.c.Handle(died("e4", "e4"))
	h.waitLog("Handler succeeded", 4)
	if got := ids(); !slices.Equal(got, []string{"e4"}) {
		t.Errorf("records after an hour = %v, want e4 only (the others evicted by age)", got)
	}
}

// envOf returns the value of name in cmd's environment.
func envOf(cmd reconcile.Command, name string) (string, bool) {
	for _, kv := range cmd.Env {
		if k, v, ok := strings.Cut(kv, "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}
