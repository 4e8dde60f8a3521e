package informer_test

import (
	"fmt"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/internal/faultproxy"
	"github.com/samalba/docker-eventsd/internal/testenv"
)

// These tests run against the real dockerd engines that hack/engines.sh starts.

// startReal runs an informer on a real engine (or a proxy in front of one).
func startReal(t *testing.T, url string, opts informer.Options) (*informer.Informer, *recorder) {
	t.Helper()
	rec := &recorder{}
	opts.Name, opts.URL, opts.Client, opts.Handler = "real", url, realClient(t, url), rec
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond
	}
	inf, _ := run(t, opts, 1)
	waitSynced(t, inf, 30*time.Second)
	return inf, rec
}

// realClient is a client of the engine at url, closed when the test ends (after
// the informers the test runs on it have stopped).
func realClient(t *testing.T, url string) *informer.EngineClient {
	t.Helper()
	cli, err := informer.NewClient(config.Engine{Name: "real", URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// find waits for an event about the named container (or an engine event when name
// is "") with this action, and returns it.
func (r *recorder) find(t *testing.T, action, name string, timeout time.Duration) *informer.Event {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		r.mu.Lock()
		for _, ev := range r.events {
			if ev.Action != action {
				continue
			}
			if (name == "" && ev.Container == nil) || (ev.Container != nil && ev.Container.Name == name) {
				r.mu.Unlock()
				return ev
			}
		}
		r.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no %s event for %q within %v; got %q", action, name, timeout, r.lines())
	return nil
}

func uniqueName(t *testing.T, prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e9)
}

func TestRealEngineEventsCarryTheCachedContainer(t *testing.T) {
	engines := testenv.Engines(t)
	url := engines["a"]
	_, rec := startReal(t, url, informer.Options{})
	name := uniqueName(t, "web")
	id := testenv.RunContainer(t, url, name, "--label", "lb=web", "--label", "name=shadowed", testenv.Image(t), "sleep", "600")

	ev := rec.find(t, "start", name, 20*time.Second)
	if ev.Synthetic || ev.ActorID != id || ev.Engine != "real" {
		t.Fatalf("start event = %+v", ev)
	}
	c := ev.Container
	// Labels come from the engine's view of the container, not from the event's
	// attributes, where Docker writes name and image over labels of those names.
	if c.Labels["lb"] != "web" || c.Labels["name"] != "shadowed" || c.State != informer.StateRunning {
		t.Fatalf("container = %+v", c)
	}
	testenv.Docker(t, url, "kill", name)
	die := rec.find(t, "die", name, 20*time.Second)
	if die.Container.ExitCode != 137 || die.Container.State != informer.StateExited {
		t.Fatalf("die container = %+v", die.Container)
	}
	rec.find(t, "kill", name, time.Second)
	testenv.Docker(t, url, "rm", name)
	rec.find(t, "destroy", name, 20*time.Second)
}

func TestRealEngineRelistSynthesizesWhatHappenedWhileBlind(t *testing.T) {
	engines := testenv.Engines(t)
	url := engines["a"]
	img := testenv.Image(t)
	p := faultproxy.New(t, url[len("tcp://"):])
	inf, rec := startReal(t, p.URL(), informer.Options{Heartbeat: 200 * time.Millisecond, HeartbeatTimeout: 500 * time.Millisecond})
	killed := uniqueName(t, "killed")
	removed := uniqueName(t, "removed")
	testenv.RunContainer(t, url, killed, img, "sleep", "600")
	testenv.RunContainer(t, url, removed, img, "sleep", "600")
	rec.find(t, "start", killed, 20*time.Second)
	rec.find(t, "start", removed, 20*time.Second)

	p.Set(faultproxy.Refuse)
	rec.find(t, informer.ActionEngineDown, "", 10*time.Second)
	testenv.Docker(t, url, "kill", killed)
	testenv.Docker(t, url, "rm", "-f", removed)
	appeared := uniqueName(t, "appeared")
	testenv.RunContainer(t, url, appeared, img, "sleep", "600")
	// Push every container event out of the engine's 256-event ring, as a burst of
	// other events would: then only the relist can tell what happened.
	for i := 0; i < 140; i++ {
		v := fmt.Sprintf("flush-%d-%d", time.Now().UnixNano()%1e6, i)
		testenv.Docker(t, url, "volume", "create", v)
		testenv.Docker(t, url, "volume", "rm", v)
	}
	p.Set(faultproxy.Pass)
	up := rec.find(t, informer.ActionEngineUp, "", 30*time.Second)

	die := rec.find(t, "die", killed, time.Second)
	if !die.Synthetic || die.Container.ExitCode != 137 || die.Time.After(up.Time) {
		t.Fatalf("die of the killed container = %+v (synthetic before engine_up expected)", die)
	}
	if d := rec.find(t, "destroy", removed, time.Second); !d.Synthetic {
		t.Fatalf("destroy = %+v, want synthetic", d)
	}
	if s := rec.find(t, "start", appeared, time.Second); !s.Synthetic {
		t.Fatalf("start = %+v, want synthetic", s)
	}
	if inf.Cache().Get(die.ActorID).State != informer.StateExited {
		t.Fatal("cache does not hold the killed container as exited")
	}
}

func TestRealEngineBlackholeIsDetectedByTheHeartbeat(t *testing.T) {
	engines := testenv.Engines(t)
	url := engines["a"] // e2e kills b
	p := faultproxy.New(t, url[len("tcp://"):])
	_, rec := startReal(t, p.URL(), informer.Options{Heartbeat: 300 * time.Millisecond, HeartbeatTimeout: 300 * time.Millisecond})
	p.Set(faultproxy.Blackhole)
	cut := time.Now()
	down := rec.find(t, informer.ActionEngineDown, "", 10*time.Second)
	// Heartbeat interval + ping timeout, plus scheduling slack on a busy machine.
	if took := down.Time.Sub(cut); took > 3*time.Second {
		t.Fatalf("engine_down %v after the blackhole, want about 600ms", took)
	}
	p.Set(faultproxy.Pass)
	rec.find(t, informer.ActionEngineUp, "", 30*time.Second)
}
