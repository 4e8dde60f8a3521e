package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/discovery"
	"github.com/samalba/docker-eventsd/informer"
)

// discoveryConfig is testConfig with a file source and a rule that records
// every engine_added and engine_removed.
const discoveryConfig = `
cluster:
  a: %s
discovery:
  - file: %s
events:
  - name: started
    type: start
    command: echo "$FROM_ENGINE $CONTAINER_ID $FROM_ENGINE_URL" >> "$OUT/events"
  - name: membership
    type: [engine_added, engine_removed]
    command: echo "$EVENT_ACTION $FROM_ENGINE $EVENT_SOURCE $FROM_ENGINE_URL" >> "$OUT/events"
state:
  - name: running
    status: [running]
    debounce: 10ms
    max_delay: 50ms
    command: cp "$EVENTSD_STATE_FILE" "$OUT/set.tmp" && mv "$OUT/set.tmp" "$OUT/set.json"
`

// writeReplace writes data to a new file and renames it over path, as
// editors and config management do.
func writeReplace(t *testing.T, path, data string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestFileSourceAddsAndRemovesEnginesWithTheirEventsAndStaticClusterWins(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "engines.yml")
	writeReplace(t, file, "")
	f := newFixtureWith(t, func(o *Options) {
		cfg, err := config.Parse(filepath.Join(dir, "events.yml"), fmt.Appendf(nil, discoveryConfig, url("a"), file))
		if err != nil {
			t.Fatal(err)
		}
		o.Config = cfg
		o.Discovery = discovery.Options{MinBackoff: 10 * time.Millisecond}
	}, "", "a")
	f.fake("d")
	f.run("d", "d1")
	f.run("a", "a1")
	// a is also given by the file, at another URL: cluster: wins.
	writeReplace(t, file, fmt.Sprintf("a: %s\nd: %s\n", url("other"), url("d")))
	f.waitEvent("engine_added d file " + url("d"))
	f.waitSynced("d")
	f.waitSet("a/a1", "d/d1")
	f.run("d", "d2")
	f.waitEvent("d d2 " + url("d"))
	if got := f.d.engines.specs()["a"].URL; got != url("a") {
		t.Fatalf("engine a is at %s: the file's a took the place of cluster:'s", got)
	}
	if n := count(f.eventLines(), "engine_added a file "+url("other")); n != 0 {
		t.Error("the file's a was added beside cluster:'s")
	}

	// d leaves the file (renamed over it): engine_removed, and its
	// containers leave the state rule's set.
	writeReplace(t, file, fmt.Sprintf("a: %s\n", url("other")))
	f.waitEvent("engine_removed d file " + url("d"))
	f.waitSet("a/a1")
	if f.d.Informer("d") != nil {
		t.Error("d still registered")
	}

	// A file that is no mapping keeps the last set.
	writeReplace(t, file, "- not\n- a mapping\n")
	f.fake("e")
	writeReplace(t, file, fmt.Sprintf("e: %s\nbad: ftp://x\n", url("e")))
	f.waitEvent("engine_added e file " + url("e"))
	f.waitSynced("e")
	if got := count(f.eventLines(), "engine_removed a config "+url("a")); got != 0 {
		t.Error("a bad entry or a broken file removed cluster:'s engine")
	}
}

func TestPrecedenceFollowsTheDiscoveryListNotTheOrderSourcesAnswer(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "", "a")
	f.fake("x1")
	f.fake("x2")
	f.d.reload.mu.Lock()
	f.d.setDiscovery([]config.Discovery{{Kind: config.DiscoveryEtcd}, {Kind: config.DiscoveryRedis}})
	f.d.reload.mu.Unlock()
	// redis answers first, then etcd: etcd's x is listed first and wins.
	if _, err := f.d.SetSourceEngines("redis", []config.Engine{{Name: "x", URL: url("x2")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := f.d.SetSourceEngines("etcd", []config.Engine{{Name: "x", URL: url("x1")}}); err != nil {
		t.Fatal(err)
	}
	if got := f.d.engines.specs()["x"].URL; got != url("x1") {
		t.Fatalf("x is at %q, want etcd's %s", got, url("x1"))
	}
}

func TestSourceKeysNameKindsListedTwiceByPlace(t *testing.T) {
	got := sourceKeys([]config.Discovery{{Kind: "etcd"}, {Kind: "file"}, {Kind: "etcd"}})
	want := []string{"etcd#1", "file", "etcd#3"}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("sourceKeys = %v, want %v", got, want)
	}
	if sourceKind("etcd#3") != "etcd" || sourceKind("dns") != "dns" {
		t.Error("sourceKind")
	}
}

func TestReloadOfClusterGivesEngineAddedAndRemovedFromConfig(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "engines.yml")
	writeReplace(t, file, "")
	parse := func(cluster string) *config.Config {
		t.Helper()
		cfg, err := config.Parse(filepath.Join(dir, "events.yml"), []byte(strings.Replace(fmt.Sprintf(discoveryConfig, url("a"), file), "  a: "+url("a")+"\n", cluster, 1)))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	f := newFixtureWith(t, func(o *Options) { o.Config = parse("  a: " + url("a") + "\n") }, "", "a")
	f.fake("b")
	if _, err := f.d.ApplyConfig(parse("  b: " + url("b") + "\n")); err != nil {
		t.Fatal(err)
	}
	f.waitEvent("engine_added b config " + url("b"))
	f.waitEvent("engine_removed a config " + url("a"))
}

func TestReloadThatDropsASourceRemovesItsEnginesAndOneThatKeepsItKeepsThem(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	file := filepath.Join(dir, "engines.yml")
	writeReplace(t, file, "")
	src := fmt.Sprintf(discoveryConfig, url("a"), file)
	parse := func(s string) *config.Config {
		t.Helper()
		cfg, err := config.Parse(filepath.Join(dir, "events.yml"), []byte(s))
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	f := newFixtureWith(t, func(o *Options) { o.Config = parse(src) }, "", "a")
	f.fake("d")
	writeReplace(t, file, "d: "+url("d")+"\n")
	f.waitEvent("engine_added d file " + url("d"))
	f.waitSynced("d")
	d := f.d.Informer("d")

	// The same source again, a state rule changed: d keeps its informer.
	if _, err := f.d.ApplyConfig(parse(strings.Replace(src, "debounce: 10ms", "debounce: 20ms", 1))); err != nil {
		t.Fatal(err)
	}
	if f.d.Informer("d") != d {
		t.Fatal("a reload that kept the source restarted its engine")
	}
	// No discovery: any more: d goes.
	if _, err := f.d.ApplyConfig(parse(strings.Replace(src, "discovery:\n  - file: "+file+"\n", "", 1))); err != nil {
		t.Fatal(err)
	}
	f.waitEvent("engine_removed d file " + url("d"))
	if f.d.Informer("d") != nil {
		t.Error("d still registered")
	}
}

func TestDiscoveredEngineResumesFromItsCheckpointAfterARestart(t *testing.T) {
	t.Parallel()
	stateDir, dir := t.TempDir(), t.TempDir()
	file := filepath.Join(dir, "engines.yml")
	withFile := func(o *Options) {
		cfg, err := config.Parse(filepath.Join(dir, "events.yml"), fmt.Appendf(nil, discoveryConfig, url("a"), file))
		if err != nil {
			t.Fatal(err)
		}
		o.Config = cfg
		o.Discovery = discovery.Options{MinBackoff: 10 * time.Millisecond}
	}
	writeReplace(t, file, "")
	first := newFixtureWith(t, withFile, stateDir, "a")
	d := first.fake("d")
	first.run("d", "d1")
	writeReplace(t, file, fmt.Sprintf("d: %s\n", url("d")))
	first.waitEvent("engine_added d file " + url("d"))
	first.waitSynced("d")
	first.waitSet("d/d1")
	first.shutdown()

	// While no daemon runs, d2 starts on the discovered engine: only a
	// resume from d's checkpoint sees its start (a first list is the
	// baseline and hands on nothing).
	d.Create("d2", "d2", "img", nil)
	d.Start("d2")
	second := newFixtureWith(t, func(o *Options) {
		withFile(o)
		next := o.NewClient
		o.NewClient = func(e config.Engine) (informer.Client, error) {
			if e.URL == url("d") {
				return d, nil
			}
			return next(e)
		}
	}, stateDir, "a")
	second.waitEvent("engine_added d file " + url("d"))
	second.waitSynced("d")
	second.waitEvent("d d2 " + url("d"))
}
