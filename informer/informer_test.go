package informer_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/moby/moby/api/types/container"

	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/informer/informertest"
)

// recorder is a Handler that keeps every event.
type recorder struct {
	mu     sync.Mutex
	events []*informer.Event
	delay  time.Duration
}

func (r *recorder) Handle(ev *informer.Event) {
	if r.delay > 0 {
		time.Sleep(r.delay)
	}
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

// lines renders the events as "action name [synthetic]" for comparison.
func (r *recorder) lines() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]string, 0, len(r.events))
	for _, ev := range r.events {
		s := ev.Action
		if ev.Container != nil {
			s += " " + ev.Container.Name
		}
		if ev.Synthetic {
			s += " synthetic"
		}
		out = append(out, s)
	}
	return out
}

// waitFor polls until cond holds or fails the test after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func (r *recorder) waitLines(t *testing.T, want []string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		got := r.lines()
		if strings.Join(got, "\n") == strings.Join(want, "\n") {
			return
		}
		if time.Now().After(deadline) || len(got) > len(want) {
			t.Fatalf("events:\n got  %q\n want %q", got, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func start(t *testing.T, eng *informertest.Engine, opts informer.Options) (*informer.Informer, *recorder) {
	t.Helper()
	rec := &recorder{}
	opts.Name, opts.URL, opts.Client = "e1", "fake://e1", eng
	if opts.Handler == nil {
		opts.Handler = rec
	}
	if opts.Heartbeat == 0 {
		opts.Heartbeat = 20 * time.Millisecond
	}
	opts.MinBackoff, opts.MaxBackoff = 10*time.Millisecond, 40*time.Millisecond
	inf, _ := run(t, opts, 2)
	return inf, rec
}

// run runs an informer with opts, logging to t at verbosity v, until the test
// ends; stop stops it earlier (a daemon that goes away) and waits for it.
func run(t *testing.T, opts informer.Options, v int) (inf *informer.Informer, stop func()) {
	t.Helper()
	inf = informer.New(opts)
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), testr.NewWithOptions(t, testr.Options{Verbosity: v})))
	done := make(chan struct{})
	go func() {
		defer close(done)
		inf.Run(ctx)
	}()
	stop = func() {
		cancel()
		<-done
	}
	t.Cleanup(stop)
	return inf, stop
}

// waitSynced fails the test unless inf is in sync within timeout.
func waitSynced(t *testing.T, inf *informer.Informer, timeout time.Duration) {
	t.Helper()
	select {
	case <-inf.Synced():
	case <-time.After(timeout):
		t.Fatal("informer did not sync with the engine")
	}
}

func TestInitialListFillsCacheWithoutSynthesizing(t *testing.T) {
	eng := informertest.New()
	eng.Create("c1", "web1", "nginx", map[string]string{"lb": "web"})
	eng.Start("c1")
	eng.Create("c2", "db", "mysql", nil)
	inf, rec := start(t, eng, informer.Options{})
	<-inf.Synced()
	if got := inf.Cache().Len(); got != 2 {
		t.Fatalf("cache has %d containers, want 2", got)
	}
	c := inf.Cache().Get("c1")
	if c.Name != "web1" || c.State != informer.StateRunning || c.Labels["lb"] != "web" || c.Image != "nginx" {
		t.Fatalf("c1 = %+v", c)
	}
	time.Sleep(50 * time.Millisecond)
	if got := rec.lines(); len(got) != 0 {
		t.Fatalf("initial sync emitted %q, want nothing", got)
	}
}

func TestEventsUpdateCacheAndReachHandlerInOrder(t *testing.T) {
	eng := informertest.New()
	inf, rec := start(t, eng, informer.Options{})
	<-inf.Synced()
	waitFor(t, "subscription", func() bool { return eng.Subscribers() == 1 })
	eng.Create("c1", "web1", "nginx", map[string]string{"lb": "web"})
	eng.Start("c1")
	eng.Rename("c1", "web2")
	eng.Die("c1", 3)
	rec.waitLines(t, []string{"create web1", "start web1", "rename web2", "die web2"})
	c := inf.Cache().Get("c1")
	if c.State != informer.StateExited || c.ExitCode != 3 || c.Labels["lb"] != "web" {
		t.Fatalf("cached c1 = %+v", c)
	}
	eng.Destroy("c1")
	rec.waitLines(t, []string{"create web1", "start web1", "rename web2", "die web2", "destroy web2"})
	if inf.Cache().Get("c1") != nil {
		t.Fatal("destroyed container still cached")
	}
}

func TestRelistSynthesizesTransitionsMissedWhileDisconnected(t *testing.T) {
	eng := informertest.New()
	for _, n := range []string{"stops", "vanishes", "stays"} {
		eng.Create(n, n, "img", nil)
		eng.Start(n)
	}
	eng.Create("exited", "exited", "img", nil)
	inf, rec := start(t, eng, informer.Options{})
	<-inf.Synced()

	eng.SetDown(true)
	rec.waitLines(t, []string{"engine_down synthetic"})
	// While the informer is blind: nothing of this reaches any ring it can replay.
	eng.SetState("stops", container.StateExited, "Exited (137) 1 second ago")
	eng.Remove("vanishes")
	eng.SetState("exited", container.StateRunning, "Up 1 second")
	eng.Create("new", "new", "img", nil)
	eng.Start("new")
	eng.FlushRing()
	eng.SetDown(false)

	waitFor(t, "engine_up", func() bool {
		l := rec.lines()
		return len(l) > 0 && l[len(l)-1] == "engine_up synthetic"
	})
	got := rec.lines()
	// The relist's transitions come between engine_down and engine_up, in any order.
	mid := append([]string(nil), got[1:len(got)-1]...)
	want := map[string]bool{
		"die stops synthetic": true, "die vanishes synthetic": true, "destroy vanishes synthetic": true,
		"start exited synthetic": true, "start new synthetic": true,
	}
	if len(mid) != len(want) {
		t.Fatalf("got %q, want engine_down, %d transitions, engine_up", got, len(want))
	}
	for _, l := range mid {
		if !want[l] {
			t.Fatalf("unexpected %q in %q", l, got)
		}
	}
	if i, j := indexOf(mid, "die vanishes synthetic"), indexOf(mid, "destroy vanishes synthetic"); i > j {
		t.Fatalf("destroy before die: %q", mid)
	}
	rec.mu.Lock()
	for _, ev := range rec.events {
		if ev.Action == "die" && ev.Container.Name == "stops" && ev.Container.ExitCode != 137 {
			t.Errorf("synthesized die has exit code %d, want 137", ev.Container.ExitCode)
		}
	}
	rec.mu.Unlock()
	if inf.Cache().Get("vanishes") != nil || inf.Cache().Get("new") == nil {
		t.Fatal("cache not in line with the engine after relist")
	}
}

func indexOf(s []string, v string) int {
	for i, x := range s {
		if x == v {
			return i
		}
	}
	return -1
}

func TestReconnectReplaysMissedEventsOnceWithoutEngineDown(t *testing.T) {
	eng := informertest.New()
	eng.Create("c1", "c1", "img", nil)
	inf, rec := start(t, eng, informer.Options{})
	<-inf.Synced()
	waitFor(t, "subscription", func() bool { return eng.Subscribers() == 1 })
	eng.Start("c1")
	rec.waitLines(t, []string{"start c1"})

	// A proxy cuts the stream; the engine is healthy and keeps its ring, so the
	// event that happens before the informer reconnects is replayed (since), and
	// the one it already had is not handed on twice.
	eng.DropStreams()
	eng.Die("c1", 0)
	waitFor(t, "die", func() bool { return len(rec.lines()) >= 2 })
	time.Sleep(100 * time.Millisecond)
	if got, want := rec.lines(), []string{"start c1", "die c1"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("got %q, want %q", got, want)
	}
	if eng.LastSince() == "" {
		t.Fatal("reconnect did not ask for a replay with since")
	}
	if inf.Sessions() < 2 {
		t.Fatalf("sessions = %d, want a reconnect", inf.Sessions())
	}
}

func TestEngineDownOncePerOutageAndUpAfterRecovery(t *testing.T) {
	eng := informertest.New()
	inf, rec := start(t, eng, informer.Options{})
	<-inf.Synced()
	eng.SetDown(true)
	// Several reconnect attempts fail during the outage.
	waitFor(t, "reconnect attempts", func() bool { return eng.Calls("Ping") > 10 })
	eng.SetDown(false)
	rec.waitLines(t, []string{"engine_down synthetic", "engine_up synthetic"})
	if !inf.Up() {
		t.Fatal("informer not up after recovery")
	}
}

func TestEngineUnreachableAtStartIsRetried(t *testing.T) {
	eng := informertest.New()
	eng.SetDown(true)
	eng.Create("c1", "c1", "img", nil)
	eng.Start("c1")
	inf, rec := start(t, eng, informer.Options{})
	waitFor(t, "retries", func() bool { return eng.Calls("Ping") > 3 })
	if inf.HasSynced() {
		t.Fatal("synced with a down engine")
	}
	eng.SetDown(false)
	<-inf.Synced()
	// The first list is the baseline: no start is synthesized for c1.
	rec.waitLines(t, []string{"engine_down synthetic", "engine_up synthetic"})
}

func TestDestroyOfRunningContainerSynthesizesTheLostDie(t *testing.T) {
	eng := informertest.New()
	eng.Create("c1", "c1", "img", nil)
	eng.Start("c1")
	inf, rec := start(t, eng, informer.Options{})
	<-inf.Synced()
	waitFor(t, "subscription", func() bool { return eng.Subscribers() == 1 })
	eng.Destroy("c1") // the die never reached the stream
	rec.waitLines(t, []string{"die c1 synthetic", "destroy c1"})
}

func TestServerSideFilterKeepsExecNoiseAway(t *testing.T) {
	eng := informertest.New()
	eng.Create("c1", "c1", "img", nil)
	inf, rec := start(t, eng, informer.Options{Actions: informer.ActionsFor([]string{"die"})})
	<-inf.Synced()
	waitFor(t, "subscription", func() bool { return eng.Subscribers() == 1 })
	eng.Emit("exec_create: sh -c true", "c1", nil)
	eng.Emit("exec_start: sh -c true", "c1", nil)
	eng.Start("c1") // a state action: always streamed
	rec.waitLines(t, []string{"start c1"})
}

func TestSlowHandlerDoesNotMakeTheEngineDropEvents(t *testing.T) {
	eng := informertest.New()
	eng.Create("c1", "c1", "img", nil)
	rec := &recorder{delay: 2 * time.Millisecond}
	inf, _ := start(t, eng, informer.Options{Handler: rec})
	<-inf.Synced()
	waitFor(t, "subscription", func() bool { return eng.Subscribers() == 1 })
	const n = 300
	for i := 0; i < n; i++ {
		eng.Emit("kill", "c1", map[string]string{"signal": fmt.Sprint(i)})
	}
	waitFor(t, "all events", func() bool { return len(rec.lines()) == n })
	if d := eng.Dropped(); d != 0 {
		t.Fatalf("engine dropped %d events for the informer", d)
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for i, ev := range rec.events {
		if ev.Attributes["signal"] != fmt.Sprint(i) {
			t.Fatalf("event %d has signal %s: order lost", i, ev.Attributes["signal"])
		}
	}
}

func TestActionsFor(t *testing.T) {
	tests := []struct {
		types []string
		want  []string
	}{
		{nil, nil},
		{[]string{"*"}, nil},
		{[]string{"die", "*"}, nil},
		{[]string{"engine_down"}, []string{}},
		{[]string{"die", "health_status:unhealthy", "die", "exec_start"}, []string{"die", "health_status", "exec_start"}},
	}
	for _, tt := range tests {
		got := informer.ActionsFor(tt.types)
		if (got == nil) != (tt.want == nil) || strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("ActionsFor(%q) = %#v, want %#v", tt.types, got, tt.want)
		}
	}
}

func TestStartOfAContainerCachedAsRunningSynthesizesTheLostDie(t *testing.T) {
	eng := informertest.New()
	eng.Create("c1", "c1", "img", nil)
	eng.Start("c1")
	inf, rec := start(t, eng, informer.Options{})
	<-inf.Synced()
	waitFor(t, "subscription", func() bool { return eng.Subscribers() == 1 })
	eng.Emit("kill", "c1", map[string]string{"signal": "10"})
	rec.waitLines(t, []string{"kill c1"})
	// The host dies with its containers: no die is ever emitted. The engine comes
	// back with an empty ring, and the container is started again before the
	// informer reconnects: the list shows it running, as the cache does.
	eng.SetDown(true)
	rec.waitLines(t, []string{"kill c1", "engine_down synthetic"})
	eng.SetState("c1", container.StateExited, "Exited (255) 1 second ago")
	eng.Start("c1")
	eng.SetDown(false)
	waitFor(t, "engine_up", func() bool {
		l := rec.lines()
		return len(l) > 0 && l[len(l)-1] == "engine_up synthetic"
	})
	rec.waitLines(t, []string{"kill c1", "engine_down synthetic", "die c1 synthetic", "start c1", "engine_up synthetic"})
}
