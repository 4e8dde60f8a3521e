package daemon

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/samalba/docker-eventsd/checkpoint"
	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/informer/informertest"
)

// waitTimeout bounds every wait of these tests.
const waitTimeout = 10 * time.Second

// testConfig has an event rule that records every start (engine, container,
// engine URL) in $OUT/events, and a state rule that copies the set of
// running containers to $OUT/set.json.
const testConfig = `
cluster:
%s
events:
  - name: started
    type: start
    command: echo "$FROM_ENGINE $CONTAINER_ID $FROM_ENGINE_URL" >> "$OUT/events"
state:
  - name: running
    status: [running]
    debounce: 10ms
    max_delay: 50ms
    command: cp "$EVENTSD_STATE_FILE" "$OUT/set.tmp" && mv "$OUT/set.tmp" "$OUT/set.json"
`

// fixture is a daemon running over fake engines, in process.
type fixture struct {
	t   *testing.T
	out string
	d   *Daemon
	// fakes are the fake engines by URL: NewClient gives the one of an
	// engine's URL.
	mu    sync.Mutex
	fakes map[string]*informertest.Engine
	done  chan error
	stop  context.CancelFunc
}

// url returns the URL of the fake engine name.
func url(name string) string { return "tcp://" + name + ".invalid:2375" }

// newFixture makes fake engines with the given names, a daemon over them
// (with opts' StateDir), and runs it until the test ends.
func newFixture(t *testing.T, stateDir string, names ...string) *fixture {
	t.Helper()
	return newFixtureWith(t, nil, stateDir, names...)
}

// newFixtureWith is newFixture with more Options set by with.
func newFixtureWith(t *testing.T, with func(*Options), stateDir string, names ...string) *fixture {
	t.Helper()
	f := &fixture{t: t, out: t.TempDir(), fakes: map[string]*informertest.Engine{}}
	var cluster strings.Builder
	for _, n := range names {
		f.fake(n)
		fmt.Fprintf(&cluster, "  %s: %s\n", n, url(n))
	}
	cfg, err := config.Parse("events.yml", fmt.Appendf(nil, testConfig, cluster.String()))
	if err != nil {
		t.Fatal(err)
	}
	opts := Options{
		Config:          cfg,
		Workers:         2,
		StateDir:        stateDir,
		Environ:         []string{"PATH=" + os.Getenv("PATH"), "OUT=" + f.out},
		Logger:          testr.New(t),
		ShutdownTimeout: 5 * time.Second,
		NewClient: func(e config.Engine) (informer.Client, error) {
			f.mu.Lock()
			defer f.mu.Unlock()
			if fk := f.fakes[e.URL]; fk != nil {
				return fk, nil
			}
			return nil, fmt.Errorf("no fake engine at %s", e.URL)
		},
	}
	if with != nil {
		with(&opts)
	}
	f.d, err = New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.stop, f.done = cancel, make(chan error, 1)
	go func() { f.done <- f.d.Run(ctx) }()
	t.Cleanup(func() { f.shutdown() })
	for _, n := range names {
		f.waitSynced(n)
	}
	return f
}

// fake returns the fake engine named name, made on first use.
func (f *fixture) fake(name string) *informertest.Engine {
	f.mu.Lock()
	defer f.mu.Unlock()
	if fk := f.fakes[url(name)]; fk != nil {
		return fk
	}
	fk := informertest.New()
	f.fakes[url(name)] = fk
	return fk
}

// shutdown stops the daemon and waits for Run; safe to call twice.
func (f *fixture) shutdown() {
	f.t.Helper()
	if f.stop == nil {
		return
	}
	f.stop()
	f.stop = nil
	select {
	case err := <-f.done:
		if err != nil {
			f.t.Errorf("Run: %v", err)
		}
	case <-time.After(waitTimeout):
		f.t.Fatal("Run did not return after its context was cancelled")
	}
}

// waitSynced waits until the named engine's first list was loaded.
func (f *fixture) waitSynced(name string) {
	f.t.Helper()
	inf := f.d.Informer(name)
	if inf == nil {
		f.t.Fatalf("engine %s not registered", name)
	}
	select {
	case <-inf.Synced():
	case <-time.After(waitTimeout):
		f.t.Fatalf("engine %s not in sync after %v", name, waitTimeout)
	}
}

// run starts a new running container id on the named fake engine.
func (f *fixture) run(engine, id string) {
	fk := f.fake(engine)
	fk.Create(id, id, "img", nil)
	fk.Start(id)
}

// waitStreams waits until the named fake engine serves n event streams
// (the fake forgets a cancelled one just after it ended).
func (f *fixture) waitStreams(engine string, n int) {
	f.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for f.fake(engine).Subscribers() != n {
		if time.Now().After(deadline) {
			f.t.Fatalf("engine %s serves %d event streams after %v, want %d", engine, f.fake(engine).Subscribers(), waitTimeout, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// eventLines returns the lines the event rule wrote.
func (f *fixture) eventLines() []string {
	b, _ := os.ReadFile(filepath.Join(f.out, "events"))
	return slices.DeleteFunc(strings.Split(string(b), "\n"), func(s string) bool { return s == "" })
}

// waitEvent waits until the event rule wrote line, and returns how many
// times it did.
func (f *fixture) waitEvent(line string) int {
	f.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		if n := count(f.eventLines(), line); n > 0 {
			return n
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("no handler run %q in %v; runs: %q", line, waitTimeout, f.eventLines())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func count(lines []string, line string) int {
	n := 0
	for _, l := range lines {
		if l == line {
			n++
		}
	}
	return n
}

// waitSet waits until the state rule's last run saw exactly want
// ("engine/name", sorted).
func (f *fixture) waitSet(want ...string) {
	f.t.Helper()
	slices.Sort(want)
	deadline := time.Now().Add(waitTimeout)
	var got []string
	for {
		got = nil
		if b, err := os.ReadFile(filepath.Join(f.out, "set.json")); err == nil {
			var set []struct{ Engine, Name string }
			if err := json.Unmarshal(b, &set); err != nil {
				f.t.Fatalf("set.json: %v", err)
			}
			for _, c := range set {
				got = append(got, c.Engine+"/"+c.Name)
			}
			slices.Sort(got)
			if slices.Equal(got, want) {
				return
			}
		}
		if time.Now().After(deadline) {
			f.t.Fatalf("state rule's last set %v after %v, want %v", got, waitTimeout, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEngineAddedWhileRunningHandsOnItsEventsWithItsURLAndJoinsTheStateRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "", "a")
	f.run("a", "a1")
	f.waitEvent("a a1 " + url("a"))
	f.waitSet("a/a1")

	f.run("c", "c1") // before the engine is added: in its first list
	if err := f.d.AddEngine(config.Engine{Name: "c", URL: url("c")}); err != nil {
		t.Fatal(err)
	}
	f.waitSynced("c")
	f.waitSet("a/a1", "c/c1")
	f.run("c", "c2")
	f.waitEvent("c c2 " + url("c"))
	f.waitSet("a/a1", "c/c1", "c/c2")
	if got := f.d.Engines(); !slices.Equal(got, []string{"a", "c"}) {
		t.Errorf("Engines = %v, want [a c]", got)
	}
}

func TestEngineRemovedWhileRunningStopsAndItsContainersLeaveTheStateRules(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "", "a", "b")
	f.run("a", "a1")
	f.run("b", "b1")
	f.waitSet("a/a1", "b/b1")

	if err := f.d.RemoveEngine("b"); err != nil {
		t.Fatal(err)
	}
	// RemoveEngine returned: the informer's goroutines ended, its stream too.
	f.waitStreams("b", 0)
	if f.d.Informer("b") != nil || !slices.Equal(f.d.Engines(), []string{"a"}) {
		t.Errorf("Engines = %v after removing b, want [a]", f.d.Engines())
	}
	f.waitSet("a/a1")
	f.run("b", "b2")
	f.run("a", "a2")
	f.waitEvent("a a2 " + url("a"))
	f.waitSet("a/a1", "a/a2")
	if n := count(f.eventLines(), "b b2 "+url("b")); n != 0 {
		t.Errorf("a start on the removed engine ran its handler %d times", n)
	}
}

func TestEngineReplacedAtTheSameURLResumesWithoutHandingOnTwice(t *testing.T) {
	t.Parallel()
	f := newFixture(t, t.TempDir(), "a")
	f.run("a", "a1")
	f.waitEvent("a a1 " + url("a"))
	old := f.d.Informer("a")
	if err := f.d.ReplaceEngine(config.Engine{Name: "a", URL: url("a")}); err != nil {
		t.Fatal(err)
	}
	if f.d.Informer("a") == old {
		t.Fatal("ReplaceEngine kept the old informer")
	}
	// The new informer starts where the old one stopped: its replay point.
	was, _ := old.Checkpoint()
	now, _ := f.d.Informer("a").Checkpoint()
	if was == nil || now == nil || was.LastSeen == 0 || now.LastSeen != was.LastSeen {
		t.Fatalf("checkpoint before %+v, after the replacement %+v: want the same LastSeen", was, now)
	}
	f.waitSynced("a")
	f.run("a", "a2")
	f.waitEvent("a a2 " + url("a"))
	f.waitSet("a/a1", "a/a2")
	if n := count(f.eventLines(), "a a1 "+url("a")); n != 1 {
		t.Errorf("the start of a1, before the replacement, ran %d times, want 1", n)
	}
	f.waitStreams("a", 1)
}

func TestEngineReplacedAtAnotherURLIsAnotherEngine(t *testing.T) {
	t.Parallel()
	f := newFixture(t, t.TempDir(), "a")
	f.run("a", "a1")
	f.waitSet("a/a1")
	f.run("a2", "n1") // the new engine behind the new URL
	if err := f.d.ReplaceEngine(config.Engine{Name: "a", URL: url("a2")}); err != nil {
		t.Fatal(err)
	}
	f.waitSynced("a")
	f.waitSet("a/n1")
	f.run("a2", "n2")
	f.waitEvent("a n2 " + url("a2"))
	f.waitStreams("a", 0)
}

func TestRegistryRefusesDuplicatesUnknownEnginesAndChangesAfterShutdown(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "", "a")
	tests := []struct {
		name string
		call func() error
		want string
	}{
		{"add a second engine a", func() error { return f.d.AddEngine(config.Engine{Name: "a", URL: url("a")}) }, `engine "a": already registered`},
		{"remove an unknown engine", func() error { return f.d.RemoveEngine("zz") }, `engine "zz": not registered`},
		{"replace an unknown engine", func() error { return f.d.ReplaceEngine(config.Engine{Name: "zz", URL: url("a")}) }, `engine "zz": not registered`},
	}
	for _, tt := range tests {
		if err := tt.call(); err == nil || err.Error() != tt.want {
			t.Errorf("%s: %v, want %q", tt.name, err, tt.want)
		}
	}
	f.shutdown()
	f.fake("late")
	if err := f.d.AddEngine(config.Engine{Name: "late", URL: url("late")}); !errors.Is(err, errStopped) {
		t.Errorf("AddEngine after shutdown: %v, want %v", err, errStopped)
	}
	if err := f.d.RemoveEngine("a"); !errors.Is(err, errStopped) {
		t.Errorf("RemoveEngine after shutdown: %v, want %v", err, errStopped)
	}
}

func TestRemovedEngineCheckpointIsForgottenAndTheOthersAreSavedAtShutdown(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	f := newFixture(t, dir, "a", "b")
	f.run("a", "a1")
	f.waitSet("a/a1")
	if err := f.d.RemoveEngine("b"); err != nil {
		t.Fatal(err)
	}
	f.shutdown()
	s, err := checkpoint.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	st := s.State()
	if _, ok := st.Engines["b"]; ok || st.Engines["a"] == nil {
		t.Fatalf("checkpoints of %v, want a only", slices.Collect(maps.Keys(st.Engines)))
	}
	var cp informer.Checkpoint
	if err := json.Unmarshal(st.Engines["a"], &cp); err != nil || len(cp.Containers) != 1 || cp.Containers[0].ID != "a1" {
		t.Errorf("checkpoint of a: %v, %+v; want its container a1", err, cp)
	}
}

func TestObserveSeesEveryEventTheControllerGets(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var seen []string
	f := newFixtureWith(t, func(o *Options) {
		o.Observe = informer.HandlerFunc(func(ev *informer.Event) {
			if ev.Type == informer.TypeContainer && ev.Action == "start" {
				mu.Lock()
				seen = append(seen, ev.Engine+" "+ev.ActorID)
				mu.Unlock()
			}
		})
	}, "", "a")
	f.run("a", "a1")
	f.waitEvent("a a1 " + url("a"))
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(seen, []string{"a a1"}) {
		t.Errorf("Observe saw the starts %q, want [a a1]", seen)
	}
}
