package informer_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/informer/informertest"
)

// replayPointSettled is longer than the informer's replayPointDelay: by then a
// session in sync has recorded where the next one replays from.
const replayPointSettled = 1500 * time.Millisecond

// TestQuietEngineReplaysWhatHappenedDuringItsFirstOutage: an engine that sent no
// event since the informer started is cut off (its ring survives: a partition, a
// stalled proxy), and a container is created, run and removed meanwhile. The
// relist cannot see it (it is gone), so only a replay can tell: the informer must
// replay from the engine time it read when it was last in sync. Without it (no
// event seen, so no since) the container's whole life was lost.
func TestQuietEngineReplaysWhatHappenedDuringItsFirstOutage(t *testing.T) {
	eng := informertest.New()
	eng.Create("old", "old", "img", nil)
	l := newLink(eng)
	_, rec := runLinked(t, l, informer.Options{Heartbeat: 50 * time.Millisecond, HeartbeatTimeout: 20 * time.Millisecond})
	time.Sleep(replayPointSettled)
	if got := rec.lines(); len(got) != 0 {
		t.Fatalf("the engine is not quiet: %q", got)
	}

	l.Cut(true)
	rec.waitLines(t, []string{"engine_down synthetic"})
	eng.Create("brief", "brief", "img", nil)
	eng.Start("brief")
	eng.Emit("oom", "brief", nil)
	eng.Die("brief", 137)
	eng.Destroy("brief")
	l.Cut(false)

	rec.waitLines(t, []string{"engine_down synthetic",
		"create brief", "start brief", "oom brief", "die brief", "destroy brief", "engine_up synthetic"})
	since := eng.LastSince()
	if since == "" {
		t.Fatal("the session after the outage asked for no replay")
	}
}

// TestCheckpointKeepsTheReplayPointOfAQuietEngine: the replay point of a quiet
// engine is in its checkpoint, and a daemon resumed from it replays from there:
// what happened while the daemon was down is handed on as the events it was.
func TestCheckpointKeepsTheReplayPointOfAQuietEngine(t *testing.T) {
	eng := informertest.New()
	eng.Create("c1", "c1", "img", nil)
	l := newLink(eng)
	inf, rec, stop := runLinkedUntilStopped(t, l, informer.Options{Checkpoints: true})
	waitFor(t, "a replay point in the checkpoint", func() bool {
		cp, _ := inf.Checkpoint()
		return cp != nil && cp.ReplayFrom != 0
	})
	cp := saved(t, inf)
	if cp.LastSeen != 0 || len(rec.lines()) != 0 {
		t.Fatalf("the engine is not quiet: last seen %d, events %q", cp.LastSeen, rec.lines())
	}
	stop()

	// The daemon is gone (the checkpoint is what it left); the engine keeps its ring.
	eng.Start("c1")
	eng.Emit("kill", "c1", map[string]string{"signal": "10"})
	_, rec2 := runLinked(t, newLink(eng), informer.Options{Resume: cp})
	rec2.waitLines(t, []string{"start c1", "kill c1"})
	want := fmt.Sprintf("%d.%09d", cp.ReplayFrom/int64(time.Second), cp.ReplayFrom%int64(time.Second))
	if got := eng.LastSince(); got != want {
		t.Errorf("the resumed session replayed from %s, want the checkpoint's replay point %s", got, want)
	}
	if got := rec2.lines(); strings.Contains(strings.Join(got, ","), "synthetic") {
		t.Errorf("replayed events were synthesized too: %q", got)
	}
}

// idsOf returns the IDs of the synthesized events about container id, as
// "action=ID".
func (r *recorder) idsOf(id string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		if ev.ActorID == id && ev.Synthetic {
			out = append(out, ev.Action+"="+ev.ID)
		}
	}
	return out
}

// TestSynthesizedTransitionsKeepTheirIDAcrossRestarts: a daemon that crashes
// after it synthesized a transition, and resumes from the same checkpoint,
// synthesizes it again: with the same EVENT_ID, so that handlers (and the
// controller's journal) can tell it is the same. The ID derives from the
// container's run as the engine records it (its StartedAt), never from the
// moment the daemon noticed: another run of the container has another ID.
func TestSynthesizedTransitionsKeepTheirIDAcrossRestarts(t *testing.T) {
	eng := informertest.New()
	eng.Create("c1", "c1", "img", nil)
	eng.Start("c1")
	l := newLink(eng)
	firstRun := time.Now().Add(-time.Minute)
	l.SetRun("c1", firstRun, time.Time{})
	inf, _, stop := runLinkedUntilStopped(t, l, informer.Options{Checkpoints: true})
	waitFor(t, "a replay point in the checkpoint", func() bool {
		cp, _ := inf.Checkpoint()
		return cp != nil && cp.ReplayFrom != 0
	})
	cp := saved(t, inf)
	if cp.Ledger["c1"].Mark == 0 {
		t.Fatalf("the checkpoint has no ledger for c1: %+v", cp.Ledger)
	}
	stop()

	// While the daemon is down, c1's run ends; the ring loses it.
	st, status := exitedStatus("137")
	eng.SetState("c1", st, status)
	l.SetRun("c1", firstRun, time.Now())
	eng.FlushRing()
	// Each resume is another run of the daemon from the same checkpoint.
	resume := func() []string {
		_, rec, stop := runLinkedUntilStopped(t, l, informer.Options{Resume: cp})
		defer stop()
		waitFor(t, "synthesized transitions", func() bool { return len(rec.idsOf("c1")) > 0 })
		time.Sleep(50 * time.Millisecond)
		return rec.idsOf("c1")
	}
	ids := resume()
	if len(ids) != 1 || !strings.HasPrefix(ids[0], "die=") {
		t.Fatalf("resumed: %q, want one die", ids)
	}
	if again := resume(); strings.Join(again, ",") != strings.Join(ids, ",") {
		t.Errorf("resumed again from the same checkpoint: %q, want the same IDs %q", again, ids)
	}

	// Another history: c1 was started again and died again while the daemon
	// was down. Its runs are other transitions, with other IDs.
	l.SetRun("c1", time.Now(), time.Now())
	time.Sleep(200 * time.Millisecond) // an inspect is trusted up to 100 ms before the list
	other := resume()
	if len(other) != 3 || !strings.HasPrefix(other[0], "die=") || !strings.HasPrefix(other[1], "start=") || !strings.HasPrefix(other[2], "die=") {
		t.Fatalf("resumed over a container that ran again: %q, want die, start, die", other)
	}
	// The first die is the same transition as before (the run the checkpoint
	// knew ended); the start and die of the run after it are others.
	if other[0] != ids[0] {
		t.Errorf("the end of the checkpointed run: %s, want the ID it had before, %s", other[0], ids[0])
	}
	if other[1] == ids[0] || other[2] == ids[0] || other[2] == other[0] {
		t.Errorf("the die of another run has the ID of the first: %q and %q", other, ids)
	}
}
