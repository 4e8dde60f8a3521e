package fakeengine_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/internal/fakeengine"
)

func newServer(t *testing.T, o fakeengine.Options) *fakeengine.Server {
	t.Helper()
	s, err := fakeengine.NewServer(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func newClient(t *testing.T, url string) *client.Client {
	t.Helper()
	c, err := client.New(client.WithHost(url))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	p, err := c.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.APIVersion != fakeengine.APIVersion || c.ClientVersion() != fakeengine.APIVersion {
		t.Fatalf("negotiated %s (ping said %s), want %s", c.ClientVersion(), p.APIVersion, fakeengine.APIVersion)
	}
	return c
}

// collect reads a stream until it ends or n messages came.
func collect(t *testing.T, r client.EventsResult, n int, timeout time.Duration) ([]events.Message, error) {
	t.Helper()
	var out []events.Message
	deadline := time.After(timeout)
	for len(out) < n {
		select {
		case m := <-r.Messages:
			out = append(out, m)
		case err := <-r.Err:
			return out, err
		case <-deadline:
			return out, errors.New("timeout")
		}
	}
	return out, nil
}

func TestClientListsInspectsAndNegotiatesOnEveryTransport(t *testing.T) {
	for _, o := range []fakeengine.Options{{Engines: 2, Containers: 3}, {Engines: 1, Containers: 3, SocketDir: t.TempDir()}} {
		s := newServer(t, o)
		c := newClient(t, s.URL(0))
		ctx := context.Background()
		l, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
		if err != nil || len(l.Items) != 3 {
			t.Fatalf("%s: list = %d items, %v", s.URL(0), len(l.Items), err)
		}
		it := l.Items[0]
		if it.State != "running" || !strings.HasPrefix(it.Status, "Up ") || it.Labels["com.example.app"] != "bench" || it.Names[0][0] != '/' {
			t.Fatalf("item %+v", it)
		}
		r, err := c.ContainerInspect(ctx, it.Names[0][1:], client.ContainerInspectOptions{})
		if err != nil || r.Container.ID != it.ID || r.Container.State.Status != "running" || r.Container.Config.Labels["com.example.app"] != "bench" {
			t.Fatalf("inspect = %+v, %v", r.Container, err)
		}
		if _, err := c.ContainerInspect(ctx, "nosuch", client.ContainerInspectOptions{}); err == nil {
			t.Fatal("inspect of a missing container succeeded")
		}
	}
}

func TestEventsReplayTheRingFromAnInclusiveSinceAndFilterLikeDockerd(t *testing.T) {
	s := newServer(t, fakeengine.Options{Engines: 1})
	e := s.Engine(0)
	c := newClient(t, s.URL(0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	id, err := e.Create(fakeengine.CreateOptions{Name: "web", Image: "nginx:1", Labels: map[string]string{"lb": "web"},
		Cmd: []string{"sleep", "1d"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(id); err != nil {
		t.Fatal(err)
	}
	if _, err := e.Exec(id, []string{"true"}); err != nil {
		t.Fatal(err)
	}
	if err := e.SetHealth(id, "healthy"); err != nil {
		t.Fatal(err)
	}
	// All since 0, with "until" in the past: the ring, then the end.
	all, err := collect(t, c.Events(ctx, client.EventsListOptions{Since: "0", Until: time.Now().Format(time.RFC3339Nano)}), 100, 5*time.Second)
	if !errors.Is(err, io.EOF) || len(all) != 6 {
		t.Fatalf("replay = %d events, %v; want 6 then EOF", len(all), err)
	}
	if all[0].Action != "create" || all[0].Actor.Attributes["lb"] != "web" || all[0].Actor.Attributes["name"] != "web" || all[3].Action != "exec_start: true" {
		t.Fatalf("replay = %+v", all)
	}
	// Since is inclusive: since the start event's time gives the start again.
	start := all[1]
	since := time.Unix(0, start.TimeNano).Format(time.RFC3339Nano)
	// health_status in the event filter matches "health_status: healthy" by
	// prefix, as exec_start would.
	f := client.Filters{}.Add("type", "container").Add("event", "start", "health_status")
	got, err := collect(t, c.Events(ctx, client.EventsListOptions{Since: since, Filters: f}), 2, 5*time.Second)
	if err != nil || got[0].TimeNano != start.TimeNano || got[1].Action != "health_status: healthy" {
		t.Fatalf("since %s with filters = %+v, %v", since, got, err)
	}
	// Label and container filters.
	f = client.Filters{}.Add("label", "lb=web").Add("container", "we")
	if got, err := collect(t, c.Events(ctx, client.EventsListOptions{Since: "0", Filters: f}), 6, 5*time.Second); err != nil || len(got) != 6 {
		t.Fatalf("label+container filter: %d events, %v", len(got), err)
	}
	f = client.Filters{}.Add("label", "lb=db")
	r := c.Events(ctx, client.EventsListOptions{Since: "0", Filters: f})
	if got, _ := collect(t, r, 1, 300*time.Millisecond); len(got) != 0 {
		t.Fatalf("lb=db matched %+v", got)
	}
}

func TestSlowSubscriberLosesEventsAfterTheBufferAnd100ms(t *testing.T) {
	s := newServer(t, fakeengine.Options{Engines: 1, Containers: 1})
	c := newClient(t, s.URL(0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := c.Events(ctx, client.EventsListOptions{})
	// Nobody reads r: the client's goroutine blocks, TCP buffers fill, then
	// the subscriber's buffer of 1024.
	deadline := time.Now().Add(20 * time.Second)
	for s.Stats().Dropped == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("no event dropped: %+v", s.Stats())
		}
		s.StartLoad(fakeengine.LoadOptions{Rate: 100000, Mix: fakeengine.Mix{Kill: 1}, Duration: 300 * time.Millisecond})
		s.WaitLoad()
	}
	st := s.Stats()
	if st.Queued+st.Dropped != st.Emitted || st.MaxBacklog != fakeengine.SubscriberBuffer {
		t.Fatalf("stats %+v: want queued + dropped = emitted and a full buffer", st)
	}
	_ = r
}

func TestFaults(t *testing.T) {
	s := newServer(t, fakeengine.Options{Engines: 1, Containers: 2})
	c := newClient(t, s.URL(0))
	ping := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
		defer cancel()
		_, err := c.Ping(ctx, client.PingOptions{})
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	// drop: the stream ends cleanly, the engine still answers.
	r := c.Events(ctx, client.EventsListOptions{})
	time.Sleep(50 * time.Millisecond)
	if err := s.Fault(0, "drop"); err != nil {
		t.Fatal(err)
	}
	if _, err := collect(t, r, 1, 5*time.Second); !errors.Is(err, io.EOF) {
		t.Fatalf("dropped stream ended with %v, want EOF", err)
	}
	if err := ping(); err != nil {
		t.Fatalf("ping after drop: %v", err)
	}

	// stall: accepted, never answered.
	if err := s.Fault(0, "stall"); err != nil {
		t.Fatal(err)
	}
	if err := ping(); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ping of a stalled engine: %v, want a timeout", err)
	}
	if err := s.Fault(0, "none"); err != nil {
		t.Fatal(err)
	}
	if err := ping(); err != nil {
		t.Fatalf("ping after stall: %v", err)
	}

	// refuse, then back on the same address.
	if err := s.Fault(0, "refuse"); err != nil {
		t.Fatal(err)
	}
	if err := ping(); err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("ping of a refusing engine: %v, want connection refused", err)
	}
	// crash: the ring is emptied, running containers are found exited.
	if err := s.Fault(0, "crash"); err != nil {
		t.Fatal(err)
	}
	if err := s.Fault(0, "none"); err != nil {
		t.Fatal(err)
	}
	if err := ping(); err != nil {
		t.Fatalf("ping after refuse: %v", err)
	}
	l, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil || len(l.Items) != 2 || l.Items[0].State != "exited" || !strings.HasPrefix(l.Items[0].Status, "Exited (255)") {
		t.Fatalf("list after crash: %+v, %v", l.Items, err)
	}
	if got, _ := collect(t, c.Events(ctx, client.EventsListOptions{Since: "0"}), 1, 300*time.Millisecond); len(got) != 0 {
		t.Fatalf("ring after crash: %+v", got)
	}
}

func TestAPIVersionPrefixAndControlEndpoint(t *testing.T) {
	s := newServer(t, fakeengine.Options{Engines: 3, Containers: 5})
	base := "http://" + strings.TrimPrefix(s.URL(0), "tcp://")
	resp, err := http.Get(base + "/v1.99/version")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("/v1.99/version: %s", resp.Status)
	}
	ctl := http.Handler(s.ControlHandler())
	req, _ := http.NewRequest(http.MethodPost, "/fake/load?rate=3000&mix=kill=1&duration=300ms", nil)
	rec := &recorder{header: http.Header{}}
	ctl.ServeHTTP(rec, req)
	if rec.code != http.StatusNoContent {
		t.Fatalf("POST /fake/load: %d %s", rec.code, rec.body.String())
	}
	s.WaitLoad()
	st := s.Stats()
	if st.Load.Events < 500 || st.Load.Events > 1200 || st.Emitted != st.Load.Events {
		t.Fatalf("300 ms at 3000/s emitted %d (load %+v)", st.Emitted, st.Load)
	}
}

type recorder struct {
	header http.Header
	code   int
	body   strings.Builder
}

func (r *recorder) Header() http.Header { return r.header }
func (r *recorder) WriteHeader(c int)   { r.code = c }
func (r *recorder) Write(b []byte) (int, error) {
	if r.code == 0 {
		r.code = http.StatusOK
	}
	return r.body.Write(b)
}

// TestLoadLeavesNoLoadContainersAlone checks that the load generator never
// touches a container labelled NoLoadLabel (a benchmark's marker).
func TestLoadLeavesNoLoadContainersAlone(t *testing.T) {
	s := newServer(t, fakeengine.Options{Engines: 1, Containers: 2})
	e := s.Engine(0)
	id, err := e.Create(fakeengine.CreateOptions{Name: "marker", Image: "bench/app:1", Cmd: []string{"sleep", "infinity"},
		Labels: map[string]string{fakeengine.NoLoadLabel: ""}})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Start(id); err != nil {
		t.Fatal(err)
	}
	c := newClient(t, s.URL(0))
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r := c.Events(ctx, client.EventsListOptions{})
	s.StartLoad(fakeengine.LoadOptions{Rate: 20000, Mix: fakeengine.DefaultMix, Duration: 200 * time.Millisecond})
	s.WaitLoad()
	n := s.Stats().Queued
	got, err := collect(t, r, int(n), 10*time.Second)
	if err != nil {
		t.Fatalf("%d of %d events: %v", len(got), n, err)
	}
	for _, m := range got {
		if m.Actor.ID == id {
			t.Fatalf("the load generator emitted %s for the marker", m.Action)
		}
	}
}

// TestInfoGivesTheEngineClockAndCounts: docker-eventsd subscribes with since
// set to the engine's SystemTime from /info; an event emitted after it must be
// replayed by a subscription that starts later with that since.
func TestInfoGivesTheEngineClockAndCounts(t *testing.T) {
	s := newServer(t, fakeengine.Options{Engines: 1, Containers: 3})
	c := newClient(t, s.URL(0))
	ctx := context.Background()
	info, err := c.Info(ctx, client.InfoOptions{})
	if err != nil {
		t.Fatal(err)
	}
	at, err := time.Parse(time.RFC3339Nano, info.Info.SystemTime)
	if err != nil {
		t.Fatalf("SystemTime %q: %v", info.Info.SystemTime, err)
	}
	if info.Info.Containers != 3 || info.Info.ContainersRunning+info.Info.ContainersPaused+info.Info.ContainersStopped != 3 {
		t.Errorf("counts: %+v", info.Info)
	}
	l, err := c.ContainerList(ctx, client.ContainerListOptions{All: true})
	if err != nil || len(l.Items) == 0 {
		t.Fatalf("list: %v", err)
	}
	if _, err := c.ContainerKill(ctx, l.Items[0].ID, client.ContainerKillOptions{Signal: "USR1"}); err != nil {
		t.Fatal(err)
	}
	since := fmt.Sprintf("%d.%09d", at.Unix(), at.Nanosecond())
	got, _ := collect(t, c.Events(ctx, client.EventsListOptions{Since: since}), 1, 5*time.Second)
	if len(got) != 1 || got[0].Action != "kill" || got[0].Actor.ID != l.Items[0].ID {
		t.Fatalf("events since SystemTime: %+v", got)
	}
}
