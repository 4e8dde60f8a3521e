package informer_test

import (
	"context"
	"errors"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/informer/eventstream"
	"github.com/samalba/docker-eventsd/informer/informertest"
)

// lateSubscriber stands between an informer and a fake engine as dockerd's
// GET /events does: dockerd flushes the answer's headers before it subscribes
// to its events, and the client's Events returns on the headers, so the
// informer goes on to list the containers while the subscription does not exist
// yet. Here the engine subscribes only when the test closes release, and, when
// listGate is not nil, the first ContainerList waits for it. It has no engine
// clock: clocked adds one.
type lateSubscriber struct {
	informer.Client

	listGate   chan struct{} // nil: the list is not held
	release    chan struct{} // closed by the test: the engine subscribes
	eventsIn   chan struct{} // closed when the first Events is called
	listed     chan struct{} // closed when the first ContainerList has returned
	subscribed chan struct{} // closed once the first subscription exists

	mu     sync.Mutex
	calls  []string // Info, Events and ContainerList, in order
	since  []string // of each Events call
	events int
	lists  int
}

func newLateSubscriber(inner informer.Client, holdList bool) *lateSubscriber {
	s := &lateSubscriber{
		Client:     inner,
		release:    make(chan struct{}),
		eventsIn:   make(chan struct{}),
		listed:     make(chan struct{}),
		subscribed: make(chan struct{}),
	}
	if holdList {
		s.listGate = make(chan struct{})
	}
	return s
}

func (s *lateSubscriber) record(call string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, call)
	switch call {
	case "Events":
		s.events++
		return s.events
	case "ContainerList":
		s.lists++
		return s.lists
	}
	return 0
}

// Calls returns the Info, Events and ContainerList calls made, in order.
func (s *lateSubscriber) Calls() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

// Since returns the since of each Events call.
func (s *lateSubscriber) Since() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.since...)
}

func (s *lateSubscriber) ContainerList(ctx context.Context, opts client.ContainerListOptions) (client.ContainerListResult, error) {
	n := s.record("ContainerList")
	if n == 1 && s.listGate != nil {
		select {
		case <-s.listGate:
		case <-ctx.Done():
			return client.ContainerListResult{}, ctx.Err()
		}
	}
	r, err := s.Client.ContainerList(ctx, opts)
	if n == 1 {
		close(s.listed)
	}
	return r, err
}

// EventStream returns at once; the first stream subscribes on the engine only
// once released (on its first Next), and then reads the engine's stream.
func (s *lateSubscriber) EventStream(ctx context.Context, opts client.EventsListOptions) (eventstream.Stream, error) {
	n := s.record("Events")
	s.mu.Lock()
	s.since = append(s.since, opts.Since)
	s.mu.Unlock()
	if n > 1 {
		return s.Client.EventStream(ctx, opts)
	}
	close(s.eventsIn)
	return &lateStream{ctx: ctx, s: s, opts: opts}, nil
}

// lateStream is the first stream of a lateSubscriber.
type lateStream struct {
	ctx   context.Context
	s     *lateSubscriber
	opts  client.EventsListOptions
	inner eventstream.Stream
	err   error
}

func (l *lateStream) Next(m *events.Message) error {
	if l.inner == nil && l.err == nil {
		select {
		case <-l.s.release:
			l.inner, l.err = l.s.Client.EventStream(l.ctx, l.opts)
			close(l.s.subscribed)
		case <-l.ctx.Done():
			l.err = l.ctx.Err()
		}
	}
	if l.err != nil {
		return l.err
	}
	return l.inner.Next(m)
}

func (l *lateStream) Close() error {
	if l.inner != nil {
		return l.inner.Close()
	}
	return nil
}

// clocked is a lateSubscriber that can tell the engine's time
// (informer.EngineClock), or fails to when refuse is set (a socket proxy that
// refuses /info).
type clocked struct {
	*lateSubscriber
	refuse bool
}

var errInfoRefused = errors.New("403 Forbidden: /info is not allowed")

func (c clocked) Info(_ context.Context, _ client.InfoOptions) (client.SystemInfoResult, error) {
	c.record("Info")
	if c.refuse {
		return client.SystemInfoResult{}, errInfoRefused
	}
	// The fake engine stamps its events with time.Now: that is its clock.
	return (&link{}).Info(context.Background(), client.InfoOptions{})
}

// runClient runs an informer on cli and returns at once.
func runClient(t *testing.T, cli informer.Client, opts informer.Options) (*informer.Informer, *recorder) {
	t.Helper()
	rec := &recorder{}
	opts.Name, opts.URL, opts.Client, opts.Handler = "e1", "fake://e1", cli, rec
	opts.MinBackoff, opts.MaxBackoff = 10*time.Millisecond, 40*time.Millisecond
	inf, _ := run(t, opts, 2)
	return inf, rec
}

// waitClosed fails the test when ch is not closed within 10 s.
func waitClosed(t *testing.T, what string, ch <-chan struct{}) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// TestEventWhileTheFirstSubscriptionIsSetUpIsHandedOnOnce: the engine answers
// the informer's first GET /events before it subscribes (dockerd does), so an
// event can happen after the engine answered the first list and before the
// subscription exists: the list does not show it, and a subscription without
// since never gets it. The informer reads the engine's clock before it
// subscribes and replays from there: the event reaches the handler, once,
// as the real event. One that happened before the list (which shows it) but
// after that time is handed on once too, even when its replay comes after the
// list was applied: no die is synthesized for the start of a container the
// list showed running. An engine that cannot tell its time (no clock, /info
// refused) subscribes without since, as before: the event is lost (the
// documented gap, which the relist after the next disconnect closes).
func TestEventWhileTheFirstSubscriptionIsSetUpIsHandedOnOnce(t *testing.T) {
	tests := []struct {
		name       string
		clock      bool // the Client is an EngineClock
		refuse     bool // which refuses /info
		beforeList bool // the event happens before the list, after the engine time was read
		want       []string
		wantCalls  []string // of the first session
		wantSince  bool
	}{
		{
			name: "after the list", clock: true,
			want:      []string{"start c1", "kill c1"},
			wantCalls: []string{"Info", "Events", "ContainerList", "Info"}, wantSince: true,
		},
		{
			name: "before the list, which shows it", clock: true, beforeList: true,
			want:      []string{"start c1", "kill c1"},
			wantCalls: []string{"Info", "Events", "ContainerList", "Info"}, wantSince: true,
		},
		{
			name:      "after the list, no engine clock",
			want:      []string{"kill c1"},
			wantCalls: []string{"Events", "ContainerList"},
		},
		{
			name: "after the list, /info refused", clock: true, refuse: true,
			want:      []string{"kill c1"},
			wantCalls: []string{"Info", "Events", "ContainerList"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			eng := informertest.New()
			eng.Create("c1", "c1", "img", nil)
			late := newLateSubscriber(eng, tt.beforeList)
			var cli informer.Client = late
			if tt.clock {
				cli = clocked{lateSubscriber: late, refuse: tt.refuse}
			}
			inf, rec := runClient(t, cli, informer.Options{Heartbeat: time.Minute})

			waitClosed(t, "the first Events call", late.eventsIn)
			if tt.beforeList {
				eng.Start("c1")
				close(late.listGate)
				waitClosed(t, "the first list applied", inf.Synced())
			} else {
				waitClosed(t, "the first list", late.listed)
				eng.Start("c1")
			}
			close(late.release)
			waitClosed(t, "the subscription", late.subscribed)
			// A marker, streamed live: what the replay brings comes before it.
			eng.Emit("kill", "c1", map[string]string{"signal": "10"})
			waitFor(t, "the marker", func() bool {
				l := rec.lines()
				return len(l) > 0 && l[len(l)-1] == "kill c1"
			})
			if got := rec.lines(); strings.Join(got, ",") != strings.Join(tt.want, ",") {
				t.Errorf("handed on %q, want %q", got, tt.want)
			}
			if got := late.Since()[0]; (got != "") != tt.wantSince {
				t.Errorf("the first subscription asked for since %q, want a replay: %v", got, tt.wantSince)
			}
			waitClosed(t, "in sync", inf.Synced())
			if got := late.Calls(); strings.Join(got[:min(len(got), len(tt.wantCalls))], ",") != strings.Join(tt.wantCalls, ",") {
				t.Errorf("the first session called %q, want %q first", got, tt.wantCalls)
			}
			// Lost, the start leaves c1 as the list showed it until a relist.
			wantState := informer.StateRunning
			if !tt.wantSince {
				wantState = informer.StateCreated
			}
			if c := inf.Cache().Get("c1"); c == nil || c.State != wantState {
				t.Errorf("cached c1 = %+v, want it %s", c, wantState)
			}
		})
	}
}

// TestOnlyAFirstSubscriptionReadsTheEngineClockBeforeIt: once a session has
// subscribed from the engine's time, the next one replays from there (no event
// seen) without asking the engine its time first: /info once per session, after
// the list. The checkpoint replays from that time as soon as the first list was
// applied, and never from before it.
func TestOnlyAFirstSubscriptionReadsTheEngineClockBeforeIt(t *testing.T) {
	eng := informertest.New()
	eng.Create("c1", "c1", "img", nil)
	late := newLateSubscriber(eng, false)
	close(late.release)
	inf, _ := runClient(t, clocked{lateSubscriber: late}, informer.Options{Heartbeat: time.Minute, Checkpoints: true})
	waitClosed(t, "the first list applied", inf.Synced())
	first := late.Since()[0]
	if first == "" {
		t.Fatal("the first subscription asked for no replay")
	}
	cp, _ := inf.Checkpoint()
	from := sinceNano(t, first)
	if cp == nil || cp.ReplayFrom < from {
		t.Fatalf("checkpoint after the first list = %+v, want it to replay from %d or later", cp, from)
	}
	if cp.FirstSeen != from || cp.LastSeen != 0 {
		t.Errorf("checkpoint first seen %d, last seen %d, want %d (the first subscription's since) and 0", cp.FirstSeen, cp.LastSeen, from)
	}

	waitFor(t, "the first session's engine time", func() bool { return len(late.Calls()) == 4 })
	waitClosed(t, "the first subscription", late.subscribed)
	eng.DropStreams()
	waitFor(t, "the second session's engine time", func() bool { return len(late.Calls()) == 7 })
	want := []string{"Info", "Events", "ContainerList", "Info", "Events", "ContainerList", "Info"}
	if got := late.Calls(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("calls %q, want %q", got, want)
	}
	if second := late.Since()[1]; second == "" || sinceNano(t, second) < from {
		t.Errorf("the second subscription asked for since %q, want %s or later", second, first)
	}
}

// sinceNano reads Docker's since (seconds.nanoseconds) as a UnixNano.
func sinceNano(t *testing.T, since string) int64 {
	t.Helper()
	sec, ns, ok := strings.Cut(since, ".")
	s, err1 := strconv.ParseInt(sec, 10, 64)
	n, err2 := strconv.ParseInt(ns, 10, 64)
	if !ok || len(ns) != 9 || err1 != nil || err2 != nil {
		t.Fatalf("since %q is not seconds.nanoseconds", since)
	}
	return s*int64(time.Second) + n
}

// TestResumedQuietEngineSubscribesFromItsReplayPoint: a checkpoint of an
// engine that had sent no event has a replay point: the resumed informer
// subscribes from it without reading the engine's time first, and it becomes
// the replay floor (an older floor of the checkpoint's run is not kept: events
// before the replay point were handled or in a list).
func TestResumedQuietEngineSubscribesFromItsReplayPoint(t *testing.T) {
	eng := informertest.New()
	eng.Create("c1", "c1", "img", nil)
	replayFrom := time.Now().UnixNano() // after the create: nothing to replay
	cp := &informer.Checkpoint{
		URL:        "fake://e1",
		FirstSeen:  replayFrom - int64(time.Minute),
		ReplayFrom: replayFrom,
		Containers: []*informer.Container{{ID: "c1", Name: "c1", Image: "img", State: informer.StateCreated}},
	}
	late := newLateSubscriber(eng, false)
	close(late.release)
	inf, rec := runClient(t, clocked{lateSubscriber: late}, informer.Options{Heartbeat: time.Minute, Resume: cp})
	waitClosed(t, "the first list applied", inf.Synced())
	waitFor(t, "the engine time after the list", func() bool { return len(late.Calls()) == 3 })
	if got, want := late.Calls(), []string{"Events", "ContainerList", "Info"}; strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("calls %q, want %q", got, want)
	}
	if got := late.Since()[0]; got == "" || sinceNano(t, got) != replayFrom {
		t.Errorf("the resumed subscription asked for since %q, want the replay point %d", got, replayFrom)
	}
	if got, _ := inf.Checkpoint(); got == nil || got.FirstSeen != replayFrom {
		t.Errorf("checkpoint after the resumed list = %+v, want first seen %d", got, replayFrom)
	}
	if got := rec.lines(); len(got) != 0 {
		t.Errorf("handed on %q over an unchanged engine", got)
	}
}
