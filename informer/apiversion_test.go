package informer_test

import (
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/internal/fakeengine"
)

// fakeEngine serves one fake engine answering as mode, over loopback TCP.
func fakeEngine(t *testing.T, mode fakeengine.Mode) *fakeengine.Server {
	t.Helper()
	s, err := fakeengine.NewServer(fakeengine.Options{Engines: 1, Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func apiMode(t *testing.T, api string) fakeengine.Mode {
	t.Helper()
	m, err := fakeengine.ModeFor(api)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestEngineUpgradedInPlaceIsSpokenToInItsNewAPIVersion: an engine first met
// as dockerd 20.10 (API 1.41) and then upgraded in place to Docker 29 (API
// 1.52, refusing anything below 1.44), or downgraded back, is in sync again
// after its restart: the next session negotiates the API version again, the
// relist tells what the restart did, and new events are handed on. The
// Docker client alone negotiates once and would ask for /v1.41/ forever.
func TestEngineUpgradedInPlaceIsSpokenToInItsNewAPIVersion(t *testing.T) {
	s := fakeEngine(t, apiMode(t, "1.41"))
	e := s.Engine(0)
	cli, err := informer.NewClient(config.Engine{Name: "up", URL: s.URL(0)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	rec := &recorder{}
	inf, _ := run(t, informer.Options{Name: "up", URL: s.URL(0), Client: cli, Handler: rec,
		Heartbeat: 100 * time.Millisecond, HeartbeatTimeout: time.Second,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}, 0)
	waitSynced(t, inf, 10*time.Second)
	start := func(name string) {
		t.Helper()
		id, err := e.Create(fakeengine.CreateOptions{Name: name, Image: "busybox", Cmd: []string{"sleep", "600"}})
		if err == nil {
			err = e.Start(id)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	start("before")
	rec.find(t, "start", "before", 10*time.Second)
	if v := cli.ClientVersion(); v != "1.41" {
		t.Fatalf("client speaks API %s to a 1.41 engine", v)
	}

	for i, step := range []struct{ api, name string }{{"1.52", "after-upgrade"}, {"1.41", "after-downgrade"}} {
		sessions := inf.Sessions()
		e.SetMode(apiMode(t, step.api))
		e.Crash() // the restart of an upgrade: connections cut, running containers exited
		waitFor(t, "a session in sync after the restart", func() bool { return inf.Sessions() > sessions && inf.Up() })
		// The relist finds the restart's exits (no event tells them).
		if i == 0 {
			rec.find(t, "die", "before", 10*time.Second)
		}
		start(step.name)
		ev := rec.find(t, "start", step.name, 10*time.Second)
		if ev.Synthetic {
			t.Errorf("start of %s was synthesized, want the engine's event", step.name)
		}
		if v := cli.ClientVersion(); v != step.api {
			t.Errorf("client speaks API %s to a %s engine", v, step.api)
		}
		if v := inf.APIVersion(); v != step.api {
			t.Errorf("informer reports API %s, want %s", v, step.api)
		}
	}
}

// TestPinnedAPIVersionIsNeverNegotiated: with the version fixed by the
// config, each session's forced negotiation leaves it as it is, even when the
// engine can speak a newer one.
func TestPinnedAPIVersionIsNeverNegotiated(t *testing.T) {
	s := fakeEngine(t, apiMode(t, "1.52"))
	cli, err := informer.NewClient(config.Engine{Name: "pinned", URL: s.URL(0), APIVersion: "1.44"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	rec := &recorder{}
	inf, _ := run(t, informer.Options{Name: "pinned", URL: s.URL(0), Client: cli, Handler: rec,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond}, 0)
	waitSynced(t, inf, 10*time.Second)
	s.Engine(0).DropStreams()
	waitFor(t, "a second session", func() bool { return s.Engine(0).Requests("events") >= 2 && inf.Up() })
	id, err := s.Engine(0).Create(fakeengine.CreateOptions{Name: "web", Image: "busybox", Cmd: []string{"sleep", "600"}})
	if err != nil {
		t.Fatal(err)
	}
	ev := rec.find(t, "create", "web", 10*time.Second)
	if v := cli.ClientVersion(); v != "1.44" {
		t.Errorf("pinned client speaks API %s, want 1.44", v)
	}
	if ev.ActorID != id {
		t.Errorf("create of %s, want %s", ev.ActorID, id)
	}
}

// TestPinnedAPIVersionTooOldIsAnOutage: a version fixed by the config that
// the engine refuses (Docker 29 refuses anything below 1.44) is an outage:
// engine_down once, the informer never in sync, and retried, not given up.
func TestPinnedAPIVersionTooOldIsAnOutage(t *testing.T) {
	s := fakeEngine(t, apiMode(t, "1.52"))
	cli, err := informer.NewClient(config.Engine{Name: "old", URL: s.URL(0), APIVersion: "1.41"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	rec := &recorder{}
	inf, _ := run(t, informer.Options{Name: "old", URL: s.URL(0), Client: cli, Handler: rec,
		MinBackoff: 20 * time.Millisecond, MaxBackoff: 100 * time.Millisecond}, 0)
	rec.find(t, informer.ActionEngineDown, "", 10*time.Second)
	waitFor(t, "retries", func() bool { return inf.Sessions() >= 3 })
	if inf.HasSynced() || inf.Up() {
		t.Errorf("synced %v, up %v with a refused API version", inf.HasSynced(), inf.Up())
	}
	if got := rec.lines(); len(got) != 1 {
		t.Errorf("events %q, want one engine_down", got)
	}
}
