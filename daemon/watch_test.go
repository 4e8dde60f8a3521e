package daemon

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/go-logr/logr/funcr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/samalba/docker-eventsd/config"
)

// watch runs WatchConfig until the test ends.
func (r *reloadFixture) watch() {
	r.t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.d.WatchConfig(ctx) }()
	r.t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			r.t.Errorf("WatchConfig: %v", err)
		}
	})
	// The watch is set up once it logged so.
	deadline := time.Now().Add(waitTimeout)
	for len(r.logs.with("Watching the config file")) == 0 {
		if time.Now().After(deadline) {
			r.t.Fatal("WatchConfig did not start")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// waitLog waits until the daemon logged n lines containing msg.
func (r *reloadFixture) waitLog(msg string, n int) {
	r.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for len(r.logs.with(msg)) < n {
		if time.Now().After(deadline) {
			r.t.Fatalf("%d log lines %q after %v, want %d", len(r.logs.with(msg)), msg, waitTimeout, n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// replace writes src to a new file beside the config and renames it over
// the config, as editors do.
func (r *reloadFixture) replace(src string) {
	r.t.Helper()
	tmp := filepath.Join(filepath.Dir(r.file), ".events.yml.swp")
	if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
		r.t.Fatal(err)
	}
	if err := os.Rename(tmp, r.file); err != nil {
		r.t.Fatal(err)
	}
}

func TestWatchConfigReloadsAFileWrittenInPlaceOrRenamedOverTheOld(t *testing.T) {
	t.Parallel()
	r := newReloadFixture(t, reloadCluster("a")+reloadRules("v1", ""), "a")
	r.watch()
	r.startAndWait("v1", "a", "c1")

	r.replace(reloadCluster("a") + reloadRules("v2", ""))
	r.waitLog("Config file changed, reloaded", 1)
	r.startAndWait("v2", "a", "c2")

	r.write(reloadCluster("a") + reloadRules("v3", ""))
	r.waitLog("Config file changed, reloaded", 2)
	r.startAndWait("v3", "a", "c3")

	// An invalid file is refused; the watcher goes on and takes the next
	// good one.
	r.replace("events: [\n")
	deadline := time.Now().Add(waitTimeout)
	for r.gauge() != 0 {
		if time.Now().After(deadline) {
			t.Fatal("an invalid file written over the config was not refused")
		}
		time.Sleep(5 * time.Millisecond)
	}
	r.startAndWait("v3", "a", "c4")
	r.replace(reloadCluster("a") + reloadRules("v4", ""))
	r.waitLog("Config file changed, reloaded", 3)
	r.startAndWait("v4", "a", "c5")
	if g := r.gauge(); g != 1 {
		t.Errorf("eventsd_config_reload_success = %v after a good file, want 1", g)
	}
}

func TestWatchConfigReloadsAKubernetesConfigMapSymlinkSwap(t *testing.T) {
	t.Parallel()
	// The layout the kubelet makes: events.yml -> ..data/events.yml,
	// ..data -> ..<timestamp>; an update writes a new timestamped directory,
	// points ..data_tmp at it and renames ..data_tmp over ..data.
	dir := t.TempDir()
	version := func(name, src string) {
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "events.yml"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(name, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	version("..2026_01_01_00_00_00.1", reloadCluster("a")+reloadRules("v1", ""))
	file := filepath.Join(dir, "events.yml")
	if err := os.Symlink("..data/events.yml", file); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(file)
	if err != nil {
		t.Fatal(err)
	}
	r := &reloadFixture{file: file, reg: prometheus.NewRegistry(), logs: &logLines{}}
	r.fixture = newFixtureWith(t, func(o *Options) {
		o.Config = cfg
		o.Metrics = r.reg
		o.Logger = funcr.New(r.logs.add, funcr.Options{Verbosity: 1})
	}, "", "a")
	r.watch()
	r.startAndWait("v1", "a", "c1")

	version("..2026_01_01_00_01_00.2", reloadCluster("a")+reloadRules("v2", ""))
	if err := os.RemoveAll(filepath.Join(dir, "..2026_01_01_00_00_00.1")); err != nil {
		t.Fatal(err)
	}
	r.waitLog("Config file changed, reloaded", 1)
	r.startAndWait("v2", "a", "c2")

	version("..2026_01_01_00_02_00.3", reloadCluster("a")+reloadRules("v3", ""))
	r.waitLog("Config file changed, reloaded", 2)
	r.startAndWait("v3", "a", "c3")
}

func TestWatchConfigReadsABusyDirectoryWithinItsMaximumDelay(t *testing.T) {
	t.Parallel()
	r := newReloadFixture(t, reloadCluster("a")+reloadRules("v1", ""), "a")
	r.watch()
	// A file beside the config written every 20 ms: the directory is never
	// quiet for watchSettle.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		noise := filepath.Join(filepath.Dir(r.file), "noise.log")
		for ctx.Err() == nil {
			_ = os.WriteFile(noise, []byte(time.Now().String()), 0o644)
			time.Sleep(20 * time.Millisecond)
		}
	}()
	start := time.Now()
	r.write(reloadCluster("a") + reloadRules("v2", ""))
	r.waitLog("Config file changed, reloaded", 1)
	if took := time.Since(start); took > waitTimeout/2 {
		t.Errorf("the change was read %v after it was written, in a busy directory", took)
	}
	r.startAndWait("v2", "a", "c1")
}
