package daemon

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
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
