package informer_test

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"

	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/informer/informertest"
)

// runUntilStopped runs an informer on eng like start, and returns a func that
// stops it (a daemon that goes away) and waits for it.
func runUntilStopped(t *testing.T, eng *informertest.Engine, opts informer.Options) (*informer.Informer, *recorder, func()) {
	t.Helper()
	rec := &recorder{}
	opts.Name, opts.URL, opts.Client = "e1", "fake://e1", eng
	if opts.Handler == nil {
		opts.Handler = rec
	}
	opts.Heartbeat = 20 * time.Millisecond
	opts.MinBackoff, opts.MaxBackoff = 10*time.Millisecond, 40*time.Millisecond
	inf, stop := run(t, opts, 2)
	return inf, rec, stop
}

// saved returns the informer's checkpoint as the state file would give it
// back: through JSON.
func saved(t *testing.T, inf *informer.Informer) *informer.Checkpoint {
	t.Helper()
	cp, v := inf.Checkpoint()
	if cp == nil || v == 0 {
		t.Fatal("no checkpoint")
	}
	data, err := json.Marshal(cp)
	if err != nil {
		t.Fatal(err)
	}
	out := &informer.Checkpoint{}
	if err := json.Unmarshal(data, out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestResumedInformerSynthesizesWhatHappenedWhileTheDaemonWasDead(t *testing.T) {
	eng := informertest.New()
	for _, n := range []string{"dies", "vanishes", "stays", "restarts"} {
		eng.Create(n, n, "img", nil)
		eng.Start(n)
	}
	eng.Create("exited", "exited", "img", nil)
	inf, rec, stop := runUntilStopped(t, eng, informer.Options{Checkpoints: true})
	<-inf.Synced()
	waitFor(t, "subscription", func() bool { return eng.Subscribers() == 1 })
	eng.Emit("kill", "stays", map[string]string{"signal": "10"})
	rec.waitLines(t, []string{"kill stays"})
	cp := saved(t, inf)
	stop()

	// While the daemon is dead: a die, a container removed, one created and
	// started, one that died and was started again; then enough other events
	// to push all of it out of the engine's ring.
	eng.Die("dies", 137)
	eng.Die("vanishes", 0)
	eng.Destroy("vanishes")
	eng.Create("new", "new", "img", nil)
	eng.Start("new")
	eng.Die("restarts", 1)
	eng.Start("restarts")
	eng.FlushRing()

	inf2, rec2, _ := runUntilStopped(t, eng, informer.Options{Resume: cp})
	if got := inf2.Cache().Get("dies"); got == nil || got.State != informer.StateRunning {
		t.Fatalf("resumed cache has dies = %+v, want it running as checkpointed", got)
	}
	<-inf2.Synced()
	want := []string{"die dies synthetic", "die vanishes synthetic", "destroy vanishes synthetic", "start new synthetic"}
	waitFor(t, "synthesized transitions", func() bool { return len(rec2.lines()) >= len(want) })
	time.Sleep(50 * time.Millisecond) // nothing more comes
	got := rec2.lines()
	sorted := append([]string(nil), got...)
	sort.Strings(sorted)
	sort.Strings(want)
	if strings.Join(sorted, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after resume got %q, want %q in any order (die before destroy)", got, want)
	}
	if indexOf(got, "die vanishes synthetic") > indexOf(got, "destroy vanishes synthetic") {
		t.Errorf("destroy before die: %q", got)
	}
	rec2.mu.Lock()
	for _, ev := range rec2.events {
		if ev.Action == "die" && ev.ActorID == "dies" && ev.Container.ExitCode != 137 {
			t.Errorf("synthesized die has exit code %d, want 137", ev.Container.ExitCode)
		}
	}
	rec2.mu.Unlock()
	if inf2.Cache().Get("vanishes") != nil || inf2.Cache().Get("new") == nil {
		t.Error("cache not in line with the engine after the resumed list")
	}
}

func TestResumedInformerReplaysFromItsCheckpointWithoutRepeatingHandledEvents(t *testing.T) {
	eng := informertest.New()
	eng.Create("c1", "c1", "img", nil)
	inf, rec, stop := runUntilStopped(t, eng, informer.Options{Checkpoints: true})
	<-inf.Synced()
	waitFor(t, "subscription", func() bool { return eng.Subscribers() == 1 })
	eng.Start("c1")
	rec.waitLines(t, []string{"start c1"})
	cp := saved(t, inf)
	if cp.LastSeen == 0 || len(cp.Recent) != 1 || cp.Recent[0].Action != "start" {
		t.Fatalf("checkpoint %+v, want the start as last seen and recent", cp)
	}
	stop()

	// The engine still holds both events: the start (handled, within the
	// replay margin) and the die (never seen).
	eng.Die("c1", 2)
	_, rec2, _ := runUntilStopped(t, eng, informer.Options{Resume: cp})
	rec2.waitLines(t, []string{"die c1"}) // replayed, not synthesized; the start not again
	time.Sleep(50 * time.Millisecond)
	rec2.waitLines(t, []string{"die c1"})
	since := eng.LastSince()
	if since == "" {
		t.Fatal("the resumed session did not ask for a replay")
	}
	n := max(cp.LastSeen-int64(100*time.Millisecond), cp.FirstSeen)
	if want := fmt.Sprintf("%d.%09d", n/int64(time.Second), n%int64(time.Second)); since != want {
		t.Errorf("since = %s, want the checkpoint's last seen minus the replay margin, %s", since, want)
	}
}

func TestResumedInformerWithNothingChangedEmitsNothing(t *testing.T) {
	eng := informertest.New()
	eng.Create("up", "up", "img", nil)
	eng.Start("up")
	eng.Create("down", "down", "img", nil)
	inf, _, stop := runUntilStopped(t, eng, informer.Options{Checkpoints: true})
	<-inf.Synced()
	cp := saved(t, inf)
	stop()
	eng.FlushRing()
	inf2, rec2, _ := runUntilStopped(t, eng, informer.Options{Resume: cp})
	<-inf2.Synced()
	waitFor(t, "in sync", inf2.Up)
	time.Sleep(50 * time.Millisecond)
	if got := rec2.lines(); len(got) != 0 {
		t.Fatalf("resume over an unchanged engine emitted %q", got)
	}
	if cp2, _ := inf2.Checkpoint(); len(cp2.Containers) != 2 {
		t.Fatalf("checkpoint after resume has %d containers, want 2", len(cp2.Containers))
	}
}

// gate is a Handler that blocks on the events of one action until released.
type gate struct {
	rec     *recorder
	action  string
	entered chan struct{}
	release chan struct{}
}

func (g *gate) Handle(ev *informer.Event) {
	if ev.Action == g.action {
		close(g.entered)
		<-g.release
	}
	g.rec.Handle(ev)
}

func TestCheckpointCoversOnlyEventsWhoseHandleReturned(t *testing.T) {
	eng := informertest.New()
	eng.Create("c1", "c1", "img", nil)
	eng.Start("c1")
	g := &gate{rec: &recorder{}, action: "die", entered: make(chan struct{}), release: make(chan struct{})}
	inf, _, _ := runUntilStopped(t, eng, informer.Options{Checkpoints: true, Handler: g})
	<-inf.Synced()
	waitFor(t, "subscription", func() bool { return eng.Subscribers() == 1 })
	before, v1 := inf.Checkpoint()
	eng.Die("c1", 9)
	<-g.entered
	// Handle has the die but has not returned: the cache shows it, the
	// checkpoint must not.
	if c := inf.Cache().Get("c1"); c.State != informer.StateExited {
		t.Fatalf("cache has c1 %s, want exited", c.State)
	}
	during, v2 := inf.Checkpoint()
	if v2 != v1 || during.LastSeen != before.LastSeen || during.Containers[0].State != informer.StateRunning {
		t.Fatalf("checkpoint moved before Handle returned: %+v (version %d, was %d)", during, v2, v1)
	}
	close(g.release)
	waitFor(t, "checkpoint after Handle", func() bool {
		cp, _ := inf.Checkpoint()
		return cp.LastSeen > before.LastSeen && cp.Containers[0].State == informer.StateExited
	})
}

func TestCheckpointIsNilBeforeTheFirstList(t *testing.T) {
	eng := informertest.New()
	eng.SetDown(true)
	inf, _, _ := runUntilStopped(t, eng, informer.Options{Checkpoints: true})
	waitFor(t, "retries", func() bool { return eng.Calls("Ping") > 2 })
	if cp, v := inf.Checkpoint(); cp != nil || v != 0 {
		t.Fatalf("Checkpoint() = %+v, %d before any list, want nil", cp, v)
	}
	noCp := informer.New(informer.Options{Name: "x", Client: eng, Handler: &recorder{}})
	if cp, _ := noCp.Checkpoint(); cp != nil {
		t.Fatal("Checkpoint() without Options.Checkpoints is not nil")
	}
}

func TestResumedInformerStartsFromTheCheckpointWhenTheEngineIsDown(t *testing.T) {
	eng := informertest.New()
	eng.Create("c1", "c1", "img", nil)
	eng.Start("c1")
	inf, _, stop := runUntilStopped(t, eng, informer.Options{Checkpoints: true})
	<-inf.Synced()
	cp := saved(t, inf)
	stop()
	eng.SetDown(true)
	eng.SetState("c1", container.StateExited, "Exited (1) 1 second ago")
	inf2, rec2, _ := runUntilStopped(t, eng, informer.Options{Resume: cp})
	rec2.waitLines(t, []string{"engine_down synthetic"})
	if cp2, _ := inf2.Checkpoint(); cp2 == nil || len(cp2.Containers) != 1 {
		t.Fatalf("checkpoint of a resumed informer with its engine down = %+v, want the resumed one", cp2)
	}
	eng.SetDown(false)
	rec2.waitLines(t, []string{"engine_down synthetic", "die c1 synthetic", "engine_up synthetic"})
}
