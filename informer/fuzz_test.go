package informer

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/informer/informertest"
)

// streamTransport answers GET /events with a fixed body, as an engine's event
// stream, and every other request with 404.
type streamTransport struct {
	body        []byte
	contentType string
}

func (s streamTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp := &http.Response{
		StatusCode: http.StatusNotFound,
		Header:     http.Header{"Content-Type": []string{"application/json"}},
		Body:       io.NopCloser(strings.NewReader(`{"message":"not found"}`)),
		Request:    r,
	}
	if strings.HasSuffix(r.URL.Path, "/events") {
		resp.StatusCode = http.StatusOK
		resp.Header.Set("Content-Type", s.contentType)
		resp.Body = io.NopCloser(bytes.NewReader(s.body))
	}
	return resp, nil
}

// decodeStream decodes body as the engine's answer to GET /events, with the
// Docker client's own decoder, and returns the messages it yields before the
// stream ends.
func decodeStream(t *testing.T, body []byte, contentType string) []events.Message {
	t.Helper()
	cli, err := client.New(
		client.WithHost("tcp://engine.invalid:2375"),
		client.WithHTTPClient(&http.Client{Transport: streamTransport{body: body, contentType: contentType}}),
		client.WithAPIVersion("1.41"),
	)
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res := cli.Events(ctx, client.EventsListOptions{})
	var out []events.Message
	for {
		select {
		case m := <-res.Messages:
			out = append(out, m)
		case <-res.Err:
			// The client sends its error only after its last message.
			return out
		}
	}
}

// fuzzRecorder keeps what an informer hands on, with a deep copy of each
// event's container taken at that moment.
type fuzzRecorder struct {
	events []*Event
	copies [][]byte
}

func (r *fuzzRecorder) Handle(ev *Event) {
	r.events = append(r.events, ev)
	b, _ := json.Marshal(ev.Container)
	r.copies = append(r.copies, b)
}

// refState is what the fuzz test itself expects of a container, computed from
// the Docker semantics the informer documents, not from its code.
type refState struct {
	state, health, name string
	exitCode            int
	// mark is the newest event time the state reflects (0: unknown): a start
	// no later than it is one the state already shows.
	mark int64
}

// refKind returns the state a container is in after an action of this kind,
// or "" when the action does not change it.
func refKind(kind string) string {
	switch kind {
	case "create":
		return StateCreated
	case "start", "restart", "unpause":
		return StateRunning
	case "pause":
		return StatePaused
	case "die":
		return StateExited
	case "destroy":
		return StateGone
	}
	return ""
}

// FuzzEventStream feeds arbitrary bytes to the informer as an engine's event
// stream: decoded by the Docker client (JSON lines, or json-seq when seq is
// true), then applied to a cache loaded from a first list, as a session does.
// It must never panic, and the cache and the events handed on must agree with
// a reference model: one event per new (timeNano, actor, action), none for a
// replay seen among the last dedupSize, the state each action implies, a
// synthesized die before the destroy of a running container, and containers
// that are never modified once handed on.
func FuzzEventStream(f *testing.F) {
	line := func(typ, action, id string, nano int64, attrs map[string]string) string {
		b, _ := json.Marshal(events.Message{Type: events.Type(typ), Action: events.Action(action),
			Actor: events.Actor{ID: id, Attributes: attrs}, Scope: "local", Time: nano / 1e9, TimeNano: nano})
		return string(b) + "\n"
	}
	const t0 = int64(1700000000000000000)
	c1 := map[string]string{"name": "web1", "image": "nginx", "lb": "web"}
	seeds := []string{
		"",
		line("container", "start", "c3", t0, nil) + line("container", "die", "c3", t0+1, map[string]string{"exitCode": "137"}),
		line("container", "create", "c3", t0, nil) + line("container", "start", "c3", t0+1, nil),
		line("container", "create", "n1", t0, map[string]string{"name": "/new", "image": "img", "a": "b"}) +
			line("container", "start", "n1", t0+1, nil) +
			line("container", "rename", "n1", t0+2, map[string]string{"name": "renamed", "oldName": "/new"}) +
			line("container", "health_status: unhealthy", "n1", t0+3, nil) +
			line("container", "pause", "n1", t0+4, nil) +
			line("container", "unpause", "n1", t0+5, nil) +
			line("container", "destroy", "n1", t0+6, nil),
		// A replay of an event already applied.
		line("container", "kill", "c1", t0, c1) + line("container", "kill", "c1", t0, c1) + line("container", "die", "c1", t0+1, c1),
		// The destroy, or the start, of a running container whose die was lost.
		line("container", "destroy", "c1", t0, c1),
		line("container", "start", "c1", t0, c1) + line("container", "die", "c1", t0+1, c1),
		// A start its running container's state already shows (older than the
		// newest event applied to it): no die was lost.
		line("container", "kill", "c1", t0+2, c1) + line("container", "start", "c1", t0+1, c1),
		line("network", "connect", "c1", t0, nil) + line("container", "start", "", t0, nil),
		line("container", "die", "c2", t0, map[string]string{"exitCode": "x"}) + line("container", "restart", "c2", -5, nil),
		line("container", "exec_start: sh -c true", "c1", t0, map[string]string{"execID": "e"}),
		`{"Type":"container","Action":"start","Actor":{"ID":"c2","Attributes":{"name":null}},"timeNano":1}` + "\n{",
		`{"status":"start","id":"c2","from":"img","time":1}` + "\n" + `[1,2]` + "\n",
		"\x1e" + line("container", "start", "c2", t0, nil) + "\x1e" + line("container", "die", "c2", t0+1, nil),
	}
	// More events than dedup remembers, then a replay of the oldest (forgotten:
	// handed on again) and of a recent one (dropped).
	var long strings.Builder
	for i := int64(0); i < dedupSize+100; i++ {
		long.WriteString(line("container", "kill", "c1", t0+i, map[string]string{"signal": "10"}))
	}
	long.WriteString(line("container", "kill", "c1", t0, nil))
	long.WriteString(line("container", "kill", "c1", t0+dedupSize, nil))
	seeds = append(seeds, long.String())
	for _, s := range seeds {
		f.Add([]byte(s), false)
		f.Add([]byte(s), true)
	}
	f.Fuzz(func(t *testing.T, stream []byte, seq bool) {
		contentType := "application/x-ndjson"
		if seq {
			contentType = "application/json-seq"
		}
		msgs := decodeStream(t, stream, contentType)

		// The engine: c1 running and c2 exited when first listed; c3 is created
		// after the list, and known only to inspect.
		eng := informertest.New()
		eng.Create("c1", "web1", "nginx", map[string]string{"lb": "web"})
		eng.Start("c1")
		eng.Create("c2", "db", "mysql", nil)
		eng.Start("c2")
		eng.Die("c2", 3)
		list, err := eng.ContainerList(context.Background(), client.ContainerListOptions{All: true})
		if err != nil {
			t.Fatal(err)
		}
		eng.Create("c3", "late", "busybox", nil)

		rec := &fuzzRecorder{}
		inf := New(Options{Name: "fz", Client: eng, Handler: rec})
		ctx := context.Background()
		if err := inf.resync(ctx, list.Items, newBuffer()); err != nil {
			t.Fatal(err)
		}
		if len(rec.events) != 0 {
			t.Fatalf("the first list handed on %d events", len(rec.events))
		}
		ref := map[string]*refState{
			"c1": {state: StateRunning, name: "web1"},
			"c2": {state: StateExited, name: "db", exitCode: 3},
		}
		var seen []eventKey // keys remembered by dedup, oldest first
		var lastSeen int64

		for i := range msgs {
			m := &msgs[i]
			before := len(rec.events)
			inf.apply(ctx, m, nil)
			got := rec.events[before:]

			if m.Type != events.ContainerEventType || m.Actor.ID == "" {
				if len(got) != 0 {
					t.Fatalf("message %d (%s %q of %q) handed on %d events", i, m.Type, m.Action, m.Actor.ID, len(got))
				}
				continue
			}
			k := eventKey{timeNano: m.TimeNano, id: m.Actor.ID, action: string(m.Action)}
			dup := false
			for _, s := range seen[max(0, len(seen)-dedupSize):] {
				if s == k {
					dup = true
					break
				}
			}
			if dup {
				if len(got) != 0 {
					t.Fatalf("message %d is a replay, handed on %d events", i, len(got))
				}
				continue
			}
			seen = append(seen, k)
			lastSeen = max(lastSeen, m.TimeNano)

			kind, status, _ := strings.Cut(string(m.Action), ":")
			prev := ref[m.Actor.ID]
			running := prev != nil && (prev.state == StateRunning || prev.state == StatePaused || prev.state == StateRestarting)
			// A running container is only destroyed, or started again, after a
			// die: without one, the die was lost and is synthesized first;
			// unless the start is one its state already shows.
			lostDie := len(got) == 2 && got[0].Action == "die" && got[0].Synthetic
			if running && (kind == "destroy" || (kind == "start" && (prev.mark == 0 || m.TimeNano > prev.mark))) {
				if !lostDie || got[0].Container.State != StateExited || got[0].Container.ExitCode != -1 ||
					got[0].ActorID != m.Actor.ID || got[0].Container.ID != m.Actor.ID {
					t.Fatalf("message %d: %s of a running container handed on %s, want a synthesized die then the %s", i, kind, describe(got), kind)
				}
				got = got[1:]
			}
			if len(got) != 1 {
				t.Fatalf("message %d (%q of %q) handed on %s, want one event", i, m.Action, m.Actor.ID, describe(got))
			}
			ev := got[0]
			c := ev.Container
			if ev.Synthetic || ev.Action != string(m.Action) || ev.ActorID != m.Actor.ID || ev.Engine != "fz" ||
				ev.Type != TypeContainer || !ev.Time.Equal(time.Unix(0, m.TimeNano)) ||
				ev.ID != MakeID("fz", m.TimeNano, m.Actor.ID, string(m.Action), false) {
				t.Fatalf("message %d: event %+v does not describe %+v", i, ev, m)
			}
			if c == nil || c.ID != m.Actor.ID || c.Engine != "fz" || c.Labels == nil {
				t.Fatalf("message %d: event container %+v", i, c)
			}

			// The state after the event, per the reference.
			want := refState{state: c.State, health: c.Health, name: c.Name, exitCode: c.ExitCode}
			if prev != nil {
				want = *prev
			}
			if s := refKind(kind); s != "" {
				want.state = s
			} else if prev == nil && c.State == StateGone {
				t.Fatalf("message %d: %q made %q gone", i, m.Action, m.Actor.ID)
			}
			if kind == "die" {
				want.health = ""
				if code, err := strconv.Atoi(m.Actor.Attributes["exitCode"]); err == nil {
					want.exitCode = code
				}
			}
			if kind == "health_status" {
				want.health = strings.TrimSpace(status)
			}
			if name := m.Actor.Attributes["name"]; name != "" {
				want.name = strings.TrimPrefix(name, "/")
			}
			if kind != "die" && kind != "health_status" && prev == nil {
				// Unknown before: health and exit code come from inspect or nothing.
				want.health, want.exitCode = c.Health, c.ExitCode
			}
			want.mark = max(want.mark, m.TimeNano)
			if c.State != want.state || c.Health != want.health || c.Name != want.name || c.ExitCode != want.exitCode {
				t.Fatalf("message %d (%q of %q): container %+v, want %+v (before: %+v)", i, m.Action, m.Actor.ID, c, want, prev)
			}

			cached := inf.cache.Get(m.Actor.ID)
			if want.state == StateGone {
				if cached != nil {
					t.Fatalf("message %d: destroyed %q still cached", i, m.Actor.ID)
				}
				delete(ref, m.Actor.ID)
			} else {
				if cached != c {
					t.Fatalf("message %d: cache holds %+v, the event %+v", i, cached, c)
				}
				ref[m.Actor.ID] = &want
			}
		}

		if inf.cursor.lastSeen != lastSeen {
			t.Fatalf("lastSeen = %d, want %d", inf.cursor.lastSeen, lastSeen)
		}
		if s := formatSince(inf.cursor.lastSeen - int64(replayMargin)); !validSince(s) {
			t.Fatalf("since %q is not seconds.nanoseconds", s)
		}
		if inf.cache.Len() != len(ref) {
			t.Fatalf("cache has %d containers, the reference %d", inf.cache.Len(), len(ref))
		}
		for _, c := range inf.cache.List() {
			r := ref[c.ID]
			if r == nil || c.State != r.state || c.State == StateGone || c.Engine != "fz" {
				t.Fatalf("cached %+v, reference %+v", c, r)
			}
		}
		// Handed-on containers are never modified afterwards.
		for i, ev := range rec.events {
			b, _ := json.Marshal(ev.Container)
			if !bytes.Equal(b, rec.copies[i]) {
				t.Fatalf("event %d's container changed after it was handed on:\n was %s\n now %s", i, rec.copies[i], b)
			}
		}
	})
}

func describe(evs []*Event) string {
	parts := make([]string, 0, len(evs))
	for _, ev := range evs {
		s := ev.Action
		if ev.Synthetic {
			s += " (synthetic)"
		}
		parts = append(parts, s)
	}
	return "[" + strings.Join(parts, ", ") + "]"
}

// validSince reports whether s is Docker's seconds.nanoseconds, both >= 0.
func validSince(s string) bool {
	sec, ns, ok := strings.Cut(s, ".")
	if !ok || len(ns) != 9 || sec == "" {
		return false
	}
	for _, r := range sec + ns {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}
