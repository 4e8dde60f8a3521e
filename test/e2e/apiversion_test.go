package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/fakeengine"
)

// The daemon against the fake engine answering as each Docker release it is
// held to (internal/fakeengine's modes; docs/CONFIG.md, "Supported Docker API
// versions"): dockerd 20.10 (API 1.41, also the real test engines), Docker 25
// (1.44, the first of 25-28) and Docker 29 (1.52: events without status, id
// and from; nothing below 1.44). The fake runs in this process, so a test can
// upgrade it in place while the daemon runs.

// apiModes are the API versions the tests run the daemon against.
var apiModes = []string{"1.41", "1.44", "1.52"}

// startFake serves one fake engine answering as the release of API version api.
func startFake(t *testing.T, api string) *fakeengine.Server {
	t.Helper()
	m, err := fakeengine.ModeFor(api)
	if err != nil {
		t.Fatal(err)
	}
	s, err := fakeengine.NewServer(fakeengine.Options{Engines: 1, Mode: m})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func setMode(t *testing.T, e *fakeengine.Engine, api string) {
	t.Helper()
	m, err := fakeengine.ModeFor(api)
	if err != nil {
		t.Fatal(err)
	}
	e.SetMode(m)
}

// apiConfig is a config with the fake engine as "fake", a rule on its
// container events and one on its outages.
func apiConfig(url string) string {
	return fmt.Sprintf(`cluster:
  fake: %s
events:
  - name: life
    type: [start, health_status, kill, die, destroy]
    command: '%[2]s'
  - name: outage
    type: [engine_down, engine_up]
    command: '%[2]s'
`, url, recordCmd)
}

// runOn creates and starts a container on the fake engine and returns its ID.
func runOn(t *testing.T, e *fakeengine.Engine, name string) string {
	t.Helper()
	id, err := e.Create(fakeengine.CreateOptions{Name: name, Image: "busybox:1", Cmd: []string{"sleep", "600"},
		Labels: map[string]string{"lb": "web"}})
	if err == nil {
		err = e.Start(id)
	}
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestAPIVersionEventsReachHandlersWithTheirEnvironmentInEveryMode(t *testing.T) {
	for _, api := range apiModes {
		t.Run("API "+api, func(t *testing.T) {
			s := startFake(t, api)
			e := s.Engine(0)
			d := startDaemon(t, apiConfig(s.URL(0)), 1)
			name := unique("web")
			id := runOn(t, e, name)
			start := d.waitRun("life", map[string]string{"EVENT_ACTION": "start", "FROM_CONTAINER": name}, 20*time.Second)
			want := map[string]string{
				"EVENT_TYPE": "container", "EVENT_OBJECT": "container", "EVENT_SYNTHETIC": "0",
				"FROM_ENGINE": "fake", "FROM_ENGINE_URL": s.URL(0), "CONTAINER_ID": id, "CONTAINER_IMAGE": "busybox:1",
			}
			checkEnv(t, "start", start, want)
			// The container and the event come from the Actor: from 1.52 on
			// the event has no id, status or from.
			ev, _ := start.Stdin["event"].(map[string]any)
			ct, _ := start.Stdin["container"].(map[string]any)
			labels, _ := ct["labels"].(map[string]any)
			if ev["type"] != "container" || ev["action"] != "start" || ev["actorId"] != id || labels["lb"] != "web" {
				t.Errorf("stdin event %v, container %v", ev, ct)
			}

			if err := e.SetHealth(name, "healthy"); err != nil {
				t.Fatal(err)
			}
			health := d.waitRun("life", map[string]string{"EVENT_ACTION": "health_status: healthy", "FROM_CONTAINER": name}, 20*time.Second)
			checkEnv(t, "health_status", health, want)
			if err := e.Kill(name, "KILL"); err != nil {
				t.Fatal(err)
			}
			die := d.waitRun("life", map[string]string{"EVENT_ACTION": "die", "FROM_CONTAINER": name}, 20*time.Second)
			checkEnv(t, "die", die, map[string]string{"EVENT_TYPE": "container", "CONTAINER_ID": id, "CONTAINER_EXIT_CODE": "137"})
			kill := d.waitRun("life", map[string]string{"EVENT_ACTION": "kill", "FROM_CONTAINER": name}, 20*time.Second)
			if a, _ := kill.Stdin["event"].(map[string]any)["attributes"].(map[string]any); a["signal"] != "9" {
				t.Errorf("kill attributes %v, want signal 9", a)
			}
			if err := e.Remove(name, false); err != nil {
				t.Fatal(err)
			}
			d.waitRun("life", map[string]string{"EVENT_ACTION": "destroy", "FROM_CONTAINER": name, "CONTAINER_ID": id}, 20*time.Second)

			// The daemon spoke the engine's own version, and was never refused.
			if n := e.Requests("v" + api); n == 0 {
				t.Errorf("no request at API %s", api)
			}
			for _, other := range apiModes {
				if other != api && e.Requests("v"+other) != 0 {
					t.Errorf("%d requests at API %s to a %s engine", e.Requests("v"+other), other, api)
				}
				if n := e.Requests("refused v" + other); n != 0 {
					t.Errorf("%d requests at API %s refused", n, other)
				}
			}
			if n := d.countRuns("outage", nil); n != 0 {
				t.Errorf("%d outage runs", n)
			}
			if n := d.countRuns("life", map[string]string{"EVENT_SYNTHETIC": "1"}); n != 0 {
				t.Errorf("%d synthesized runs", n)
			}
		})
	}
}

// checkEnv reports the variables of r that differ from want.
func checkEnv(t *testing.T, what string, r run, want map[string]string) {
	t.Helper()
	for k, v := range want {
		if r.Env[k] != v {
			t.Errorf("%s: %s=%q, want %q", what, k, r.Env[k], v)
		}
	}
}

// TestAPIVersionEngineUpgradedInPlaceIsFollowedByTheRunningDaemon: dockerd
// 20.10 (1.41) upgraded to Docker 29 (1.52, which refuses 1.41) and back,
// each time with the restart an upgrade is, while the daemon runs: the daemon
// negotiates again, relists (the restart's exit is synthesized) and hands on
// the new release's events.
func TestAPIVersionEngineUpgradedInPlaceIsFollowedByTheRunningDaemon(t *testing.T) {
	s := startFake(t, "1.41")
	e := s.Engine(0)
	d := startDaemon(t, apiConfig(s.URL(0)), 1)
	before := unique("before")
	runOn(t, e, before)
	d.waitRun("life", map[string]string{"EVENT_ACTION": "start", "FROM_CONTAINER": before}, 20*time.Second)

	for i, api := range []string{"1.52", "1.41"} {
		setMode(t, e, api)
		e.Crash()
		if i == 0 {
			// The container the restart stopped: no event tells, the relist does.
			die := d.waitRun("life", map[string]string{"EVENT_ACTION": "die", "FROM_CONTAINER": before}, 20*time.Second)
			checkEnv(t, "die after the upgrade", die, map[string]string{"EVENT_SYNTHETIC": "1", "CONTAINER_EXIT_CODE": "255"})
		}
		d.waitLog(`"msg":"Engine in sync"`, i+2, 20*time.Second)
		after := unique("after-" + api)
		id := runOn(t, e, after)
		start := d.waitRun("life", map[string]string{"EVENT_ACTION": "start", "FROM_CONTAINER": after}, 20*time.Second)
		checkEnv(t, "start after the change to "+api, start, map[string]string{"EVENT_TYPE": "container", "EVENT_SYNTHETIC": "0", "CONTAINER_ID": id})
	}
	if n := strings.Count(d.Logs(), `"msg":"Engine API version changed"`); n != 2 {
		t.Errorf("%d API version changes logged, want 2", n)
	}
	if n := e.Requests("refused v1.41"); n != 0 {
		t.Errorf("%d requests refused for asking for 1.41", n)
	}
}

// TestAPIVersionPinnedTooOldIsAnOutageNotACrash: DOCKER_API_VERSION=1.41
// (the Docker CLI's environment, no config file) against Docker 29, which
// refuses it: the engine is down with dockerd's message in the log, the
// daemon keeps running and retrying, and it is in sync once the engine
// accepts 1.41 (here: replaced by Docker 25).
func TestAPIVersionPinnedTooOldIsAnOutageNotACrash(t *testing.T) {
	s := startFake(t, "1.52")
	e := s.Engine(0)
	d := launchDaemon(t, "", t.TempDir(), "", []string{"DOCKER_HOST=" + s.URL(0), "DOCKER_API_VERSION=1.41"}, 0)
	d.waitLog("client version 1.41 is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version", 1, 20*time.Second)
	d.waitLog(`"msg":"Engine state changed"`, 1, 20*time.Second)
	if !strings.Contains(d.Logs(), `"action":"engine_down"`) {
		t.Errorf("no engine_down in the log")
	}
	deadline := time.Now().Add(20 * time.Second)
	for e.Requests("refused v1.41") < 4 {
		if time.Now().After(deadline) {
			t.Fatalf("%d refused requests: the daemon does not retry", e.Requests("refused v1.41"))
		}
		time.Sleep(50 * time.Millisecond)
	}
	select {
	case <-d.done:
		t.Fatalf("the daemon exited")
	default:
	}
	if strings.Contains(d.Logs(), `"msg":"Engine in sync"`) {
		t.Errorf("in sync with a refused API version")
	}
	setMode(t, e, "1.44")
	d.waitLog(`"msg":"Engine in sync"`, 1, 20*time.Second)
	name := unique("pinned")
	runOn(t, e, name)
	d.waitLog(name, 1, 20*time.Second)
	// The pinned version is kept: every versioned request asks for 1.41.
	if n := e.Requests("v1.41"); n == 0 {
		t.Errorf("no request answered at the pinned 1.41")
	}
}
