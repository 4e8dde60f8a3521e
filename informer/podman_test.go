package informer

import (
	"bytes"
	"io"
	"os"
	"reflect"
	"strconv"
	"testing"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
	"github.com/samalba/docker-eventsd/informer/eventstream"
)

// podmanRecording is the event stream of Debian's podman 4.3.1 through its
// Docker-compatible API (GET /v1.41/events?since=0, type=container), recorded
// on hack/podman.sh's engine while running: a container whose network could
// not be set up (create only), `docker run --rm ... true`, a container that
// exits 3 and is removed, then one with a health check run by hand (`podman
// healthcheck run`: fail, fail, then pass twice after `docker exec touch`),
// killed with USR1, paused, unpaused, renamed hc -> hc2, restarted, stopped
// and removed.
const podmanRecording = "testdata/podman-4.3.1-events.jsonl"

// recordedPodman returns the recorded events as the stream decoder gives
// them, with Podman's top-level HealthStatus in the podmanHealthAttr
// attribute, where the decoder puts it (events.Message has no field for it).
func recordedPodman(t *testing.T) []events.Message {
	t.Helper()
	raw, err := os.ReadFile(podmanRecording)
	if err != nil {
		t.Fatal(err)
	}
	dec := eventstream.NewDecoder(bytes.NewReader(raw))
	var out []events.Message
	for {
		var m events.Message
		if err := dec.Decode(&m); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("decode event %d: %v", len(out)+1, err)
		}
		out = append(out, m)
	}
	if len(out) != 39 {
		t.Fatalf("recording has %d events, want 39", len(out))
	}
	return out
}

// recorded returns the n-th (1-based) recorded event, a copy of its attributes.
func recorded(t *testing.T, n int) events.Message {
	t.Helper()
	m := recordedPodman(t)[n-1]
	m.Actor.Attributes = copyAttrs(m.Actor.Attributes)
	return m
}

func TestFromPodmanTranslatesRecordedEvents(t *testing.T) {
	hc := func(health string) *Container {
		return &Container{Name: "hc", State: StateRunning, Health: health}
	}
	tests := []struct {
		name   string
		line   int        // of the recording
		cached *Container // before the event
		keep   bool
		action string
		attrs  map[string]string // attributes that must hold these values
	}{
		{name: "create is Docker's", line: 8, keep: true, action: "create"},
		{name: "start is Docker's", line: 10, keep: true, action: "start"},
		{name: "die keeps its exitCode", line: 11, keep: true, action: "die", attrs: map[string]string{"exitCode": "3"}},
		{name: "remove becomes destroy", line: 13, keep: true, action: "destroy", attrs: map[string]string{"name": "exit3"}},
		{name: "init passes as Podman's own", line: 9, keep: true, action: "init"},
		{name: "cleanup passes as Podman's own", line: 12, keep: true, action: "cleanup"},
		{name: "first health check gives its health", line: 17, cached: hc(""), keep: true, action: "health_status: starting"},
		{name: "changed health is handled", line: 19, cached: hc("starting"), keep: true, action: "health_status: unhealthy"},
		{name: "repeated health is dropped", line: 23, cached: hc("unhealthy"), keep: false},
		{name: "health of an unknown container is handled", line: 25, keep: true, action: "health_status: healthy"},
		{name: "exec becomes exec_start", line: 21, keep: true, action: "exec_start"},
		{name: "exec_died becomes exec_die", line: 22, keep: true, action: "exec_die"},
		{name: "rename gets oldName from the cache", line: 30, cached: hc("healthy"), keep: true, action: "rename", attrs: map[string]string{"oldName": "/hc", "name": "hc2"}},
		{name: "rename of an unknown container has no oldName", line: 30, keep: true, action: "rename", attrs: map[string]string{"oldName": ""}},
		{name: "die of a stopped container says 137", line: 33, keep: true, action: "die", attrs: map[string]string{"exitCode": "137"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := recorded(t, tt.line)
			known := NewCache()
			if tt.cached != nil {
				c := *tt.cached
				c.ID = m.Actor.ID
				known.set(&c)
			}
			if got := fromPodman(&m, known); got != tt.keep {
				t.Fatalf("keep = %v, want %v (%s)", got, tt.keep, m.Action)
			}
			if !tt.keep {
				return
			}
			if string(m.Action) != tt.action {
				t.Errorf("action = %q, want %q", m.Action, tt.action)
			}
			for k, want := range tt.attrs {
				if got := m.Actor.Attributes[k]; got != want {
					t.Errorf("attribute %s = %q, want %q", k, got, want)
				}
			}
		})
	}
}

// TestFromPodmanGivesDockersStreamForTheRecording runs the whole recording
// through the translation and the cache, as the informer does, and compares
// the actions handed on with what rules written for Docker expect.
func TestFromPodmanGivesDockersStreamForTheRecording(t *testing.T) {
	cache := NewCache()
	var got []string
	for _, m := range recordedPodman(t) {
		if !fromPodman(&m, cache) {
			continue
		}
		cached := cache.Get(m.Actor.ID)
		if cached == nil {
			cached = fromAttributes("p", &m)
		}
		next := applyEvent(cached, &m)
		if next.State == StateGone {
			cache.remove(next.ID)
		} else {
			cache.set(next)
		}
		entry := next.Name + " " + string(m.Action)
		if m.Action == "die" {
			entry += " " + strconv.Itoa(next.ExitCode)
		}
		got = append(got, entry)
	}
	want := []string{
		"vigilant_mestorf create",
		"trusting_dijkstra create", "trusting_dijkstra init", "trusting_dijkstra attach",
		"trusting_dijkstra start", "trusting_dijkstra die 0", "trusting_dijkstra destroy",
		"exit3 create", "exit3 init", "exit3 start", "exit3 die 3", "exit3 cleanup", "exit3 destroy",
		"hc create", "hc init", "hc start",
		"hc health_status: starting", "hc exec_die",
		"hc health_status: unhealthy", "hc exec_die",
		"hc exec_start", "hc exec_die",
		"hc exec_die", // the second unhealthy: no change, dropped
		"hc health_status: healthy", "hc exec_die",
		"hc kill", "hc pause", "hc unpause", "hc2 rename", "hc2 restart", "hc2 stop", "hc2 die 137",
		"hc2 init", "hc2 start", "hc2 die 137", "hc2 cleanup", "hc2 cleanup", "hc2 destroy",
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("translated stream:\n got %q\nwant %q", got, want)
	}
}

func TestFromPodmanLeavesDockerEventsAlone(t *testing.T) {
	tests := []struct {
		name string
		m    events.Message
	}{
		{name: "health_status with its status", m: events.Message{Type: "container", Action: "health_status: healthy",
			Actor: events.Actor{ID: "c", Attributes: map[string]string{"name": "web"}}}},
		{name: "rename with oldName", m: events.Message{Type: "container", Action: "rename",
			Actor: events.Actor{ID: "c", Attributes: map[string]string{"name": "new", "oldName": "/old"}}}},
		{name: "destroy", m: events.Message{Type: "container", Action: "destroy",
			Actor: events.Actor{ID: "c", Attributes: map[string]string{"name": "web"}}}},
		{name: "exec_start with its command", m: events.Message{Type: "container", Action: "exec_start: sh -c true",
			Actor: events.Actor{ID: "c", Attributes: map[string]string{"name": "web"}}}},
		{name: "an image remove", m: events.Message{Type: "image", Action: "remove",
			Actor: events.Actor{ID: "sha256:1", Attributes: map[string]string{"name": "busybox"}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := tt.m
			m.Actor.Attributes = copyAttrs(tt.m.Actor.Attributes)
			known := NewCache()
			known.set(&Container{ID: "c", Name: "old", Health: "healthy"})
			if !fromPodman(&m, known) {
				t.Fatal("dropped")
			}
			if !reflect.DeepEqual(m, tt.m) {
				t.Errorf("changed:\n got %+v\nwant %+v", m, tt.m)
			}
		})
	}
}

func TestFromPodmanCopiesAttributesBeforeChanging(t *testing.T) {
	attrs := map[string]string{"name": "new", "containerExitCode": "2"}
	known := NewCache()
	known.set(&Container{ID: "c", Name: "old"})
	for _, action := range []string{"rename", "died"} {
		m := events.Message{Type: "container", Action: events.Action(action), Actor: events.Actor{ID: "c", Attributes: attrs}}
		fromPodman(&m, known)
		if len(attrs) != 2 {
			t.Fatalf("%s: the original attributes changed: %v", action, attrs)
		}
	}
	m := events.Message{Type: "container", Action: "died", Actor: events.Actor{ID: "c", Attributes: attrs}}
	fromPodman(&m, NewCache())
	if m.Action != "die" || m.Actor.Attributes["exitCode"] != "2" {
		t.Errorf("libpod died: action %q exitCode %q, want die 2", m.Action, m.Actor.Attributes["exitCode"])
	}
}

func TestWithPodmanNamesAddsPodmansNamesOfWantedActions(t *testing.T) {
	tests := []struct {
		name string
		in   client.Filters
		want client.Filters
	}{
		{name: "no event term", in: client.Filters{}.Add("type", "container"), want: client.Filters{}.Add("type", "container")},
		{
			name: "state actions",
			in:   client.Filters{}.Add("type", "container").Add("event", "start", "die", "destroy", "health_status"),
			want: client.Filters{}.Add("type", "container").Add("event", "start", "die", "died", "destroy", "remove", "health_status"),
		},
		{
			name: "exec actions",
			in:   client.Filters{}.Add("event", "exec_start", "exec_die"),
			want: client.Filters{}.Add("event", "exec_start", "exec", "exec_die", "exec_died"),
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tt.in.Clone()
			if got := withPodmanNames(tt.in); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %v, want %v", got, tt.want)
			}
			if !reflect.DeepEqual(tt.in, before) {
				t.Errorf("input changed: %v", tt.in)
			}
		})
	}
}
