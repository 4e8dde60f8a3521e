package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller"
)

// reloadFixture is a daemon started from a config file on disk, over fake
// engines, with its metrics and its log lines kept.
type reloadFixture struct {
	*fixture
	file string
	reg  *prometheus.Registry
	logs *logLines
}

// logLines keeps the log lines of a daemon, as funcr renders them.
type logLines struct {
	mu    sync.Mutex
	lines []string
}

func (l *logLines) add(prefix, args string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.lines = append(l.lines, prefix+" "+args)
}

// with returns the lines that contain every one of parts.
func (l *logLines) with(parts ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
next:
	for _, line := range l.lines {
		for _, p := range parts {
			if !strings.Contains(line, p) {
				continue next
			}
		}
		out = append(out, line)
	}
	return out
}

// reloadRules is the rules part of the reload tests' configs: an event
// rule that writes version with each start, then extra rules, verbatim,
// then the state rule of testConfig.
func reloadRules(version, extra string) string {
	return fmt.Sprintf(`
events:
  - name: started
    type: start
    command: echo "%s $FROM_ENGINE $CONTAINER_ID" >> "$OUT/events"
%s
state:
  - name: running
    status: [running]
    debounce: 10ms
    max_delay: 50ms
    command: cp "$EVENTSD_STATE_FILE" "$OUT/set.tmp" && mv "$OUT/set.tmp" "$OUT/set.json"
`, version, extra)
}

// reloadCluster is a cluster: of the fake engines names, each at url(name);
// a name "x=other" is engine x at url(other).
func reloadCluster(names ...string) string {
	var b strings.Builder
	b.WriteString("cluster:\n")
	for _, n := range names {
		name, at, _ := strings.Cut(n, "=")
		if at == "" {
			at = name
		}
		fmt.Fprintf(&b, "  %s: %s\n", name, url(at))
	}
	return b.String()
}

// newReloadFixture writes src as events.yml in a directory of its own and
// runs a daemon from it over the fake engines names.
func newReloadFixture(t *testing.T, src string, names ...string) *reloadFixture {
	t.Helper()
	r := &reloadFixture{file: filepath.Join(t.TempDir(), "events.yml"), reg: prometheus.NewRegistry(), logs: &logLines{}}
	if err := os.WriteFile(r.file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(r.file)
	if err != nil {
		t.Fatal(err)
	}
	r.fixture = newFixtureWith(t, func(o *Options) {
		o.Config = cfg
		o.Metrics = r.reg
		o.Logger = funcr.New(r.logs.add, funcr.Options{Verbosity: 1})
	}, "", names...)
	t.Cleanup(func() {
		if t.Failed() {
			r.logs.mu.Lock()
			defer r.logs.mu.Unlock()
			t.Logf("daemon log:\n%s", strings.Join(r.logs.lines, "\n"))
		}
	})
	return r
}

// write writes src to the config file in place.
func (r *reloadFixture) write(src string) {
	r.t.Helper()
	if err := os.WriteFile(r.file, []byte(src), 0o644); err != nil {
		r.t.Fatal(err)
	}
}

// reload writes src and reloads it, failing the test on error.
func (r *reloadFixture) reload(src string) Reloaded {
	r.t.Helper()
	r.write(src)
	got, err := r.d.Reload()
	if err != nil {
		r.t.Fatalf("Reload: %v", err)
	}
	return got
}

// startAndWait starts container id on engine and waits for the line the
// event rule of version writes for it.
func (r *reloadFixture) startAndWait(version, engine, id string) {
	r.t.Helper()
	r.run(engine, id)
	r.waitEvent(version + " " + engine + " " + id)
}

// gauge returns eventsd_config_reload_success.
func (r *reloadFixture) gauge() float64 {
	r.t.Helper()
	v, ok := gathered(r.t, r.reg, "eventsd_config_reload_success", nil)
	if !ok {
		r.t.Fatal("eventsd_config_reload_success not registered")
	}
	return v
}

// calls returns how many lists and event streams the fake engine served.
func (r *reloadFixture) calls(engine string) [2]int {
	fk := r.fake(engine)
	return [2]int{fk.Calls("ContainerList"), fk.Calls("EventStream")}
}

func TestReloadAppliesRulesByNameChangedAddedAndRemoved(t *testing.T) {
	t.Parallel()
	r := newReloadFixture(t, reloadCluster("a")+reloadRules("v1", `  - name: doomed
    type: start
    command: echo "doomed $CONTAINER_ID" >> "$OUT/events"
`), "a")
	r.startAndWait("v1", "a", "c1")
	r.waitEvent("doomed c1")

	got := r.reload(reloadCluster("a") + reloadRules("v2", `  - name: added
    type: start
    command: echo "added $CONTAINER_ID" >> "$OUT/events"
`))
	want := controller.RuleChanges{Added: []string{"added"}, Changed: []string{"started"}, Removed: []string{"doomed"}}
	if !reflect.DeepEqual(got.Rules, want) {
		t.Errorf("rules changes = %+v, want %+v", got.Rules, want)
	}
	if got.Restarted || !got.Engines.Empty() {
		t.Errorf("a reload of the rules only touched the engines: %+v", got)
	}
	r.startAndWait("v2", "a", "c2")
	r.waitEvent("added c2")
	for _, line := range []string{"v1 a c2", "doomed c2", "v2 a c1", "added c1"} {
		if n := count(r.eventLines(), line); n != 0 {
			t.Errorf("%q ran %d times, want 0", line, n)
		}
	}
	if at, err := r.d.LastReload(); err != nil || at.IsZero() {
		t.Errorf("LastReload = %v, %v; want a time and no error", at, err)
	}
	if g := r.gauge(); g != 1 {
		t.Errorf("eventsd_config_reload_success = %v, want 1", g)
	}
}

func TestReloadRefusesAnInvalidFileKeepsTheRunningConfigAndShowsTheFailureUntilAGoodReload(t *testing.T) {
	t.Parallel()
	good := reloadCluster("a") + reloadRules("v1", "")
	r := newReloadFixture(t, good, "a")
	r.startAndWait("v1", "a", "c1")
	inf := r.d.Informer("a")

	// Two errors: an unknown field (line 4) and an unknown engine (line 9).
	bad := reloadCluster("a") + `
events:
  - name: started
    typo: start
    command: echo "v2 $FROM_ENGINE $CONTAINER_ID" >> "$OUT/events"
  - name: other
    type: start
    from_engine: nowhere
    command: "true"
`
	r.write(bad)
	_, err := r.d.Reload()
	var list config.ErrorList
	if !errors.As(err, &list) || len(list) < 2 {
		t.Fatalf("Reload of an invalid file = %v, want a config.ErrorList of 2 errors at least", err)
	}
	for _, e := range list {
		if lines := r.logs.with("Config reload refused: invalid config", fmt.Sprintf(`"line"=%d`, e.Line), fmt.Sprintf(`"col"=%d`, e.Col), r.file); len(lines) != 1 {
			t.Errorf("error %v logged %d times with its file, line and col, want 1", e, len(lines))
		}
	}
	if g := r.gauge(); g != 0 {
		t.Errorf("eventsd_config_reload_success = %v after a refused reload, want 0", g)
	}
	r.startAndWait("v1", "a", "c2") // the old rules still in force
	if r.d.Informer("a") != inf {
		t.Error("a refused reload replaced the engine")
	}
	// The watcher finding the same content again changes nothing: the
	// failure stays.
	if _, changed, err := r.d.ReloadIfChanged(); changed || err != nil {
		t.Errorf("ReloadIfChanged of the same invalid content = %v, %v; want unchanged, nil", changed, err)
	}
	if _, err := r.d.LastReload(); err == nil {
		t.Error("LastReload forgot the failure before a good reload")
	}
	if g := r.gauge(); g != 0 {
		t.Errorf("eventsd_config_reload_success = %v before a good reload, want 0", g)
	}

	r.reload(reloadCluster("a") + reloadRules("v3", ""))
	if _, err := r.d.LastReload(); err != nil {
		t.Errorf("LastReload after a good reload = %v, want nil", err)
	}
	if g := r.gauge(); g != 1 {
		t.Errorf("eventsd_config_reload_success = %v after a good reload, want 1", g)
	}
	r.startAndWait("v3", "a", "c3")
}

func TestReloadKeepsUnchangedEnginesAndReconnectsChangedStartsAddedStopsRemoved(t *testing.T) {
	t.Parallel()
	rules := reloadRules("v1", "")
	r := newReloadFixture(t, reloadCluster("a", "b", "c", "e")+rules, "a", "b", "c", "e")
	a, e := r.d.Informer("a"), r.d.Informer("e")
	before := r.calls("a")
	r.run("b2", "n1") // the engine behind b's new URL
	r.run("d", "d1")

	next := reloadCluster("b=b2", "d", "a") + // a declared elsewhere: the same engine
		"  e:\n    url: " + url("e") + "\n    labels: {role: db}\n" + rules
	got := r.reload(next)
	want := EngineChanges{Added: []string{"d"}, Replaced: []string{"b", "e"}, Removed: []string{"c"}, Unchanged: []string{"a"}}
	if !reflect.DeepEqual(got.Engines, want) || got.Restarted {
		t.Fatalf("engine changes = %+v (restarted %v), want %+v", got.Engines, got.Restarted, want)
	}
	if r.d.Informer("a") != a {
		t.Error("the unchanged engine a got a new informer")
	}
	if r.d.Informer("e") == e {
		t.Error("the engine e, whose labels changed, kept its informer")
	}
	r.waitSynced("b")
	r.waitSynced("d")
	r.waitSynced("e")
	r.waitStreams("c", 0)
	r.waitSet("b/n1", "d/d1")
	r.startAndWait("v1", "a", "a1")
	r.run("b2", "n2") // b is now the engine behind b2
	r.waitEvent("v1 b n2")
	r.startAndWait("v1", "d", "d2")
	if after := r.calls("a"); after != before {
		t.Errorf("engine a served (lists, streams) %v before the reload and %v after: reconnected or relisted", before, after)
	}
	if got := r.calls("e"); got[1] != 2 {
		t.Errorf("engine e served %d event streams, want 2 (reconnected once)", got[1])
	}
	r.run("c", "c9")
	time.Sleep(50 * time.Millisecond)
	if n := count(r.eventLines(), "v1 c c9"); n != 0 {
		t.Errorf("the removed engine c still hands on its events: %d runs", n)
	}
}

// reloadUnderEvents starts n containers, alternately on engines a and b,
// while it reloads configs in turn, then waits until each start ran its
// handler (once at least), and returns how many times each real (not
// synthesized) and synthesized start ran, by "engine id", and the number of
// reloads.
func (r *reloadFixture) reloadUnderEvents(n int, configs []string) (real, synthetic map[string]int, reloads int) {
	r.t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			r.run([]string{"a", "b"}[i%2], fmt.Sprintf("c%d", i))
			time.Sleep(time.Millisecond)
		}
	}()
	for running := true; running; reloads++ {
		select {
		case <-done:
			running = false
		default:
		}
		r.reload(configs[reloads%len(configs)])
	}
	r.reload(configs[0])
	if reloads < 4 {
		r.t.Fatalf("only %d reloads while the events came: the test proves nothing", reloads)
	}
	read := func() {
		real, synthetic = map[string]int{}, map[string]int{}
		for _, l := range r.eventLines() {
			f := strings.Fields(l) // version engine id [synthetic]
			if len(f) > 3 && f[3] == "1" {
				synthetic[f[1]+" "+f[2]]++
			} else {
				real[f[1]+" "+f[2]]++
			}
		}
	}
	deadline := time.Now().Add(waitTimeout)
	for i := 0; i < n; {
		read()
		k := []string{"a", "b"}[i%2] + " " + fmt.Sprintf("c%d", i)
		if real[k]+synthetic[k] > 0 {
			i++
			continue
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the start of %s never ran its handler (after %d reloads)", k, reloads)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a late second run would show now
	read()
	return real, synthetic, reloads
}

// syntheticRules is reloadRules whose event rule also writes
// $EVENT_SYNTHETIC.
func syntheticRules(version, extra string) string {
	return strings.Replace(reloadRules(version, extra), "$CONTAINER_ID\"", "$CONTAINER_ID $EVENT_SYNTHETIC\"", 1)
}

func TestEventsArrivingDuringReloadsAreDeliveredExactlyOnceUnderTheOldOrTheNewRules(t *testing.T) {
	t.Parallel()
	// The command changes at every reload, a rule comes and goes, an
	// engine too; the engines' event filters stay.
	configs := []string{
		reloadCluster("a", "b") + syntheticRules("v1", ""),
		reloadCluster("a", "b", "z") + syntheticRules("v2", `  - name: also
    type: start
    from_engine: z
    command: "true"
`),
	}
	r := newReloadFixture(t, configs[0], "a", "b")
	r.fake("z")
	const n = 150
	real, synthetic, reloads := r.reloadUnderEvents(n, configs)
	if len(real) != n || len(synthetic) != 0 {
		t.Errorf("%d starts ran, %d synthesized, want %d real ones", len(real), len(synthetic), n)
	}
	for k, c := range real {
		if c != 1 {
			t.Errorf("the start of %s ran %d times, want once", k, c)
		}
	}
	t.Logf("%d events over %d reloads", n, reloads)
}

func TestEventsArrivingWhileReloadsRestartTheEnginesAreNeverLostNorReplayedTwice(t *testing.T) {
	t.Parallel()
	// Every other reload changes the engines' event filters (a rule of
	// another action): the engines restart from their replay point.
	configs := []string{
		reloadCluster("a", "b") + syntheticRules("v1", ""),
		reloadCluster("a", "b") + syntheticRules("v2", `  - name: paused
    type: pause
    command: "true"
`),
	}
	r := newReloadFixture(t, configs[0], "a", "b")
	const n = 150
	real, synthetic, reloads := r.reloadUnderEvents(n, configs)
	for k, c := range real {
		if c != 1 {
			t.Errorf("the start of %s was handed on %d times from the engine's stream, want once (replayed twice)", k, c)
		}
	}
	if len(real)+len(synthetic) < n {
		t.Errorf("%d starts ran, want %d", len(real)+len(synthetic), n)
	}
	// A start the new informer's first list shows, and whose event reaches
	// it after its list settled (a loaded machine), is synthesized, then
	// handed on again from the replay: at least once, as after any
	// reconnect (docs/CONFIG.md, Reload).
	t.Logf("%d events over %d reloads that restarted the engines: %d synthesized", n, reloads, len(synthetic))
}

func TestReloadChangingTheEventFiltersRestartsEnginesFromTheirReplayPoint(t *testing.T) {
	t.Parallel()
	r := newReloadFixture(t, reloadCluster("a")+reloadRules("v1", ""), "a")
	r.startAndWait("v1", "a", "c1")
	r.waitSet("a/c1")
	old := r.d.Informer("a")
	was, _ := old.Checkpoint()

	got := r.reload(reloadCluster("a") + reloadRules("v1", `  - name: died
    type: die
    command: echo "died $CONTAINER_ID" >> "$OUT/events"
`))
	if !got.Restarted || !slices.Equal(got.Engines.Replaced, []string{"a"}) {
		t.Fatalf("reload adding a die rule = %+v, want the filters changed and a restarted", got)
	}
	if r.d.Informer("a") == old {
		t.Fatal("the engine kept its informer, with its old filter")
	}
	r.waitSynced("a")
	if since := r.fake("a").LastSince(); since == "" {
		t.Error("the restarted engine streamed without since: not from its replay point")
	}
	now, _ := r.d.Informer("a").Checkpoint()
	if was == nil || now == nil || now.LastSeen < was.LastSeen || now.LastSeen == 0 {
		t.Errorf("checkpoint before %+v, after %+v: want the replay point carried over", was, now)
	}
	r.fake("a").Die("c1", 1)
	r.waitEvent("died c1")
	r.startAndWait("v1", "a", "c2")
	if n := count(r.eventLines(), "v1 a c1"); n != 1 {
		t.Errorf("the start of c1, before the restart, ran %d times, want 1", n)
	}
}

func TestReloadAddingARuleOfAnotherKindRestartsEveryEngineAndAnUnchangedFilterRestartsNone(t *testing.T) {
	t.Parallel()
	base := reloadCluster("a", "b") + reloadRules("v1", "")
	r := newReloadFixture(t, base, "a", "b")
	tests := []struct {
		name      string
		src       string
		restarted bool
	}{
		{"an image rule: images are streamed too", reloadCluster("a", "b") + reloadRules("v1", `  - name: pulled
    object: image
    type: pull
    command: "true"
`), true},
		{"the same kinds, another command", reloadCluster("a", "b") + reloadRules("v2", `  - name: pulled
    object: image
    type: pull
    command: "false"
`), false},
		{"the image rule removed", reloadCluster("a", "b") + reloadRules("v2", ""), true},
	}
	for _, tt := range tests {
		streams := r.calls("a")[1] + r.calls("b")[1]
		got := r.reload(tt.src)
		if got.Restarted != tt.restarted {
			t.Errorf("%s: restarted = %v, want %v", tt.name, got.Restarted, tt.restarted)
		}
		r.waitSynced("a")
		r.waitSynced("b")
		want := streams
		if tt.restarted {
			want += 2
		}
		if now := r.calls("a")[1] + r.calls("b")[1]; now != want {
			t.Errorf("%s: the engines served %d event streams, want %d", tt.name, now-streams, want-streams)
		}
	}
}

func TestReloadWithoutAConfigFileChangesNothingAndIsNoFailure(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	f := newFixtureWith(t, func(o *Options) {
		cfg := *o.Config
		cfg.File = ""
		o.Config = &cfg
		o.Metrics = reg
	}, "", "a")
	inf := f.d.Informer("a")
	if _, err := f.d.Reload(); !errors.Is(err, ErrNoConfigFile) {
		t.Fatalf("Reload without a config file = %v, want ErrNoConfigFile", err)
	}
	if at, err := f.d.LastReload(); err != nil || !at.IsZero() {
		t.Errorf("LastReload = %v, %v; want no reload recorded", at, err)
	}
	if v, _ := gathered(t, reg, "eventsd_config_reload_success", nil); v != 1 {
		t.Errorf("eventsd_config_reload_success = %v, want 1", v)
	}
	if f.d.Informer("a") != inf {
		t.Error("the engine was replaced")
	}
}

// stateRuns returns the lines the state rule "counted" wrote.
func (r *reloadFixture) stateRuns() []string {
	b, _ := os.ReadFile(filepath.Join(r.out, "state-runs"))
	return slices.DeleteFunc(strings.Split(string(b), "\n"), func(s string) bool { return s == "" })
}

// waitStateRuns waits until the state rule "counted" ran n times.
func (r *reloadFixture) waitStateRuns(n int) {
	r.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for len(r.stateRuns()) < n {
		if time.Now().After(deadline) {
			r.t.Fatalf("the state rule ran %d times after %v, want %d: %q", len(r.stateRuns()), waitTimeout, n, r.stateRuns())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReloadKeepsAnUnchangedStateRuleFromFiringAgainAndRestartsAChangedOne(t *testing.T) {
	t.Parallel()
	counted := func(version string) string {
		return fmt.Sprintf(`  - name: counted
    status: [running]
    debounce: 10ms
    max_delay: 50ms
    command: echo "%s $(wc -l < "$EVENTSD_STATE_FILE")" >> "$OUT/state-runs"
`, version)
	}
	src := func(event, state string) string {
		return reloadCluster("a") + reloadRules(event, "") + counted(state)
	}
	r := newReloadFixture(t, src("v1", "s1"), "a")
	r.startAndWait("v1", "a", "c1")
	r.waitSet("a/c1")
	r.waitStateRuns(1)
	before := len(r.stateRuns())

	// The event rule changes, the state rule does not: it does not run again
	// for the set it last ran for.
	got := r.reload(src("v2", "s1"))
	if !slices.Equal(got.StateRules.Unchanged, []string{"running", "counted"}) {
		t.Errorf("state rules changes = %+v, want both unchanged", got.StateRules)
	}
	time.Sleep(300 * time.Millisecond) // 6 times its max_delay
	if n := len(r.stateRuns()); n != before {
		t.Errorf("the unchanged state rule ran %d more times after the reload, want 0: %q", n-before, r.stateRuns())
	}

	// Changed: it starts anew and runs once for the set it finds.
	got = r.reload(src("v2", "s2"))
	if !slices.Equal(got.StateRules.Changed, []string{"counted"}) {
		t.Errorf("state rules changes = %+v, want counted changed", got.StateRules)
	}
	r.waitStateRuns(before + 1)
	time.Sleep(300 * time.Millisecond)
	runs := r.stateRuns()
	if len(runs) != before+1 || !strings.HasPrefix(runs[len(runs)-1], "s2 ") {
		t.Errorf("after the change the state rule ran %q, want one run of s2", runs[before:])
	}

	// Removed: it runs no more.
	got = r.reload(reloadCluster("a") + reloadRules("v2", ""))
	if !slices.Equal(got.StateRules.Removed, []string{"counted"}) {
		t.Errorf("state rules changes = %+v, want counted removed", got.StateRules)
	}
	r.startAndWait("v2", "a", "c2")
	r.waitSet("a/c1", "a/c2")
	time.Sleep(300 * time.Millisecond)
	if n := len(r.stateRuns()); n != before+1 {
		t.Errorf("the removed state rule ran %d more times", n-before-1)
	}
}
