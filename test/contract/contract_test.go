package contract_test

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/hack/fakeengine"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/test/e2e/testenv"
)

var update = flag.Bool("update", false, "write testdata/ from the real engine (needs EVENTSD_TEST_ENGINES)")

// realEngine returns the URL of a test engine and its image, or "" when there
// is none (outside CI, the fake is then compared with testdata/).
func realEngine(t *testing.T) (string, string) {
	t.Helper()
	if os.Getenv("EVENTSD_TEST_ENGINES") == "" && os.Getenv("CI") != "true" && !*update {
		return "", ""
	}
	engines := testenv.Engines(t)
	names := make([]string, 0, len(engines))
	for n := range engines {
		names = append(names, n)
	}
	sort.Strings(names)
	return engines[names[0]], testenv.Image(t)
}

// fakeEngine starts one fake engine for the test.
func fakeEngine(t *testing.T) string {
	t.Helper()
	s, err := fakeengine.NewServer(fakeengine.Options{Engines: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s.URL(0)
}

// TestFakeEngineGivesTheInformerWhatARealEngineGives runs the scenario on both
// and compares the transcripts.
func TestFakeEngineGivesTheInformerWhatARealEngineGives(t *testing.T) {
	realURL, image := realEngine(t)
	golden := filepath.Join("testdata", "transcript.txt")
	var want []string
	if realURL != "" {
		want = runScenario(t, "real", realURL, image)
		if *update {
			writeLines(t, golden, want)
		}
	} else {
		want = readLines(t, golden)
		t.Logf("no test engine: comparing the fake with %s (recorded on a real engine)", golden)
	}
	got := runScenario(t, "fake", fakeEngine(t), "eventsd-busybox:latest")
	if d := diffLines(want, got); d != "" {
		t.Errorf("the informer saw something else on the fake engine (- real, + fake):\n%s", d)
	}
}

// recorder keeps the events an informer hands on.
type recorder struct {
	mu     sync.Mutex
	events []*informer.Event
}

func (r *recorder) Handle(ev *informer.Event) {
	r.mu.Lock()
	r.events = append(r.events, ev)
	r.mu.Unlock()
}

func (r *recorder) snapshot() []*informer.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*informer.Event(nil), r.events...)
}

// scenario is one run: a client, an informer, the names used.
type scenario struct {
	t      *testing.T
	ctx    context.Context
	cli    *client.Client
	inf    *informer.Informer
	rec    *recorder
	prefix string
	image  string
	// lines is the transcript.
	lines []string
	// seen is how many recorded events are in the transcript.
	seen int
}

// runScenario makes the same operations on the engine at url and returns
// what the informer saw, normalized (names without the run's prefix, no IDs,
// no times).
func runScenario(t *testing.T, kind, url, image string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(logr.NewContext(context.Background(), testr.NewWithOptions(t, testr.Options{Verbosity: 1})), 3*time.Minute)
	defer cancel()
	cli, err := client.New(client.WithHost(url))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		t.Fatal(err)
	}
	icli, err := informer.NewClient(config.Engine{Name: kind, URL: url})
	if err != nil {
		t.Fatal(err)
	}
	defer icli.Close()
	rec := &recorder{}
	// Only the actions the cache needs, as a daemon whose rules name none
	// else: exec noise is filtered by the engine.
	inf := informer.New(informer.Options{Name: kind, URL: url, Client: icli, Handler: rec, Actions: []string{},
		Heartbeat: time.Second, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	ictx, icancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		inf.Run(ictx)
	}()
	defer func() {
		icancel()
		<-done
	}()
	select {
	case <-inf.Synced():
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: informer did not sync", kind)
	}
	s := &scenario{t: t, ctx: ctx, cli: cli, inf: inf, rec: rec, image: image,
		prefix: fmt.Sprintf("contract-%d-", time.Now().UnixNano()%1e9)}
	defer s.cleanup()
	s.run()
	return s.lines
}

func (s *scenario) name(n string) string { return s.prefix + n }

func (s *scenario) cleanup() {
	for _, n := range []string{"web", "web2", "quitter", "restarted"} {
		_, _ = s.cli.ContainerRemove(context.Background(), s.name(n), client.ContainerRemoveOptions{Force: true})
	}
}

// errOf returns the error of a call that returns a value and an error.
func errOf[T any](_ T, err error) error { return err }

// check fails the test on an API error.
func (s *scenario) check(err error) {
	s.t.Helper()
	if err != nil {
		s.t.Fatalf("%s: %v", s.inf.Name(), err)
	}
}

// trap ignores SIGUSR1 (and, as PID 1, SIGTERM).
var trap = []string{"sh", "-c", `trap "" USR1; while true; do sleep 1; done`}

func (s *scenario) create(name string, cmd []string, labels map[string]string, health bool) {
	s.t.Helper()
	cfg := &container.Config{Image: s.image, Cmd: cmd, Labels: labels}
	if health {
		cfg.Healthcheck = &container.HealthConfig{Test: []string{"CMD-SHELL", "test ! -e /sick"}, Interval: 500 * time.Millisecond, Retries: 1}
	}
	s.check(errOf(s.cli.ContainerCreate(s.ctx, client.ContainerCreateOptions{Name: s.name(name), Config: cfg,
		HostConfig: &container.HostConfig{NetworkMode: "none"}})))
}

func (s *scenario) exec(name string, cmd ...string) {
	s.t.Helper()
	x, err := s.cli.ExecCreate(s.ctx, s.name(name), client.ExecCreateOptions{Cmd: cmd})
	s.check(err)
	s.check(errOf(s.cli.ExecStart(s.ctx, x.ID, client.ExecStartOptions{Detach: true})))
}

// expect waits until the informer handed on the given actions (in this
// order, after those already in the transcript) and adds them to it.
func (s *scenario) expect(actions ...string) {
	s.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		evs := s.rec.snapshot()[s.seen:]
		var mine []*informer.Event
		for _, ev := range evs {
			if ev.Container != nil && strings.HasPrefix(ev.Container.Name, s.prefix) {
				mine = append(mine, ev)
			}
		}
		if len(mine) >= len(actions) {
			for _, ev := range mine[:len(actions)] {
				s.lines = append(s.lines, s.describe(ev))
			}
			// Move past the events taken (and others' events before them).
			n := 0
			for i, ev := range evs {
				if ev.Container != nil && strings.HasPrefix(ev.Container.Name, s.prefix) {
					n++
					if n == len(actions) {
						s.seen += i + 1
						break
					}
				}
			}
			got := make([]string, len(actions))
			for i, ev := range mine[:len(actions)] {
				got[i] = ev.Action
			}
			if strings.Join(got, ",") != strings.Join(actions, ",") {
				s.t.Fatalf("%s: events %q, want %q; transcript so far:\n%s", s.inf.Name(), got, actions, strings.Join(s.lines, "\n"))
			}
			return
		}
		if time.Now().After(deadline) {
			var got []string
			for _, ev := range mine {
				got = append(got, ev.Action)
			}
			s.t.Fatalf("%s: waiting for %q, got %q; transcript so far:\n%s", s.inf.Name(), actions, got, strings.Join(s.lines, "\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// describe renders an event without what differs between runs.
func (s *scenario) describe(ev *informer.Event) string {
	c := ev.Container
	var b strings.Builder
	fmt.Fprintf(&b, "event %s %s state=%s health=%s exit=%d synthetic=%v labels=%s attrs=%s",
		ev.Action, strings.TrimPrefix(c.Name, s.prefix), c.State, c.Health, c.ExitCode, ev.Synthetic,
		kvs(c.Labels, nil), kvs(ev.Attributes, map[string]string{"name": "NAME", "image": "IMAGE", "oldName": "OLD", "execID": "ID"}))
	return b.String()
}

// cache adds the cache's view of the scenario's containers to the transcript.
func (s *scenario) cache(when string) {
	s.lines = append(s.lines, "cache "+when)
	for _, c := range s.inf.Cache().List() {
		if !strings.HasPrefix(c.Name, s.prefix) {
			continue
		}
		s.lines = append(s.lines, fmt.Sprintf("  %s state=%s health=%s exit=%d labels=%s created=%v",
			strings.TrimPrefix(c.Name, s.prefix), c.State, c.Health, c.ExitCode, kvs(c.Labels, nil), !c.Created.IsZero()))
	}
}

// kvs renders a map sorted, with some values replaced by placeholders.
func kvs(m map[string]string, placeholders map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := m[k]
		if p, ok := placeholders[k]; ok {
			v = p
		}
		parts[i] = k + "=" + v
	}
	return "{" + strings.Join(parts, ",") + "}"
}

// run is the scenario: every action docker-eventsd follows, on containers
// that ignore SIGUSR1 and SIGTERM, one with a health check.
func (s *scenario) run() {
	t := s.t
	t.Helper()
	ctx := s.ctx
	// A label named "name" is shadowed in the event attributes, never in
	// the informer's cache.
	s.create("web", trap, map[string]string{"lb": "web", "name": "shadowed"}, true)
	s.expect("create")
	s.check(errOf(s.cli.ContainerStart(ctx, s.name("web"), client.ContainerStartOptions{})))
	s.expect("start", "health_status: healthy")
	s.cache("with web running and healthy")

	s.check(errOf(s.cli.ContainerKill(ctx, s.name("web"), client.ContainerKillOptions{Signal: "USR1"})))
	s.expect("kill")
	s.check(errOf(s.cli.ContainerPause(ctx, s.name("web"), client.ContainerPauseOptions{})))
	s.expect("pause")
	s.check(errOf(s.cli.ContainerUnpause(ctx, s.name("web"), client.ContainerUnpauseOptions{})))
	// Pausing stops the health monitor, which leaves the status unhealthy
	// without an event; the first check after unpause reports healthy again.
	s.expect("unpause", "health_status: healthy")
	s.check(errOf(s.cli.ContainerRename(ctx, s.name("web"), client.ContainerRenameOptions{NewName: s.name("web2")})))
	s.expect("rename")

	// Exec noise (the engine filters it) makes the check fail, then pass.
	s.exec("web2", "touch", "/sick")
	s.expect("health_status: unhealthy")
	s.exec("web2", "rm", "/sick")
	s.expect("health_status: healthy")

	s.check(errOf(s.cli.ContainerKill(ctx, s.name("web2"), client.ContainerKillOptions{Signal: "KILL"})))
	s.expect("kill", "die")
	s.cache("with web2 killed")
	s.check(errOf(s.cli.ContainerRemove(ctx, s.name("web2"), client.ContainerRemoveOptions{})))
	s.expect("destroy")

	// A container whose command ends at once with a status.
	s.create("quitter", []string{"sh", "-c", "exit 3"}, nil, false)
	s.expect("create")
	s.check(errOf(s.cli.ContainerStart(ctx, s.name("quitter"), client.ContainerStartOptions{})))
	s.expect("start", "die")

	// Restart of a process that ignores SIGTERM, then a forced removal.
	s.create("restarted", trap, map[string]string{"role": "db"}, false)
	s.expect("create")
	s.check(errOf(s.cli.ContainerStart(ctx, s.name("restarted"), client.ContainerStartOptions{})))
	s.expect("start")
	zero := 0
	s.check(errOf(s.cli.ContainerRestart(ctx, s.name("restarted"), client.ContainerRestartOptions{Timeout: &zero})))
	s.expect("kill", "kill", "die", "stop", "start", "restart")
	s.cache("after the restart")
	s.check(errOf(s.cli.ContainerRemove(ctx, s.name("restarted"), client.ContainerRemoveOptions{Force: true})))
	s.expect("kill", "die", "destroy")
	s.check(errOf(s.cli.ContainerRemove(ctx, s.name("quitter"), client.ContainerRemoveOptions{})))
	s.expect("destroy")
	s.cache("at the end")
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./test/contract -update with the test engines up)", err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// diffLines returns the lines that differ, or "".
func diffLines(want, got []string) string {
	var b strings.Builder
	for i := 0; i < max(len(want), len(got)); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, w, g)
		}
	}
	return b.String()
}
