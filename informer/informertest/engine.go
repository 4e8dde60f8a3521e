package informertest

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/informer/eventstream"
)

// RingSize is how many events a Docker engine keeps for replay.
const RingSize = 256

// ErrDown is returned by every call while the engine is down.
var ErrDown = errors.New("fake engine: connection refused")

// Engine is a fake Docker engine; it implements informer.Client. Create it with New.
type Engine struct {
	mu         sync.Mutex
	containers map[string]*container.Summary
	ring       []events.Message
	subs       map[*sub]struct{}
	down       bool
	clock      int64
	calls      map[string]int
	lastSince  string
	dropped    atomic.Int64
}

// Dropped returns how many events were dropped because a subscriber did not take
// them within 100 ms (dockerd's rule).
func (e *Engine) Dropped() int64 { return e.dropped.Load() }

// New returns an empty, running fake engine.
func New() *Engine {
	return &Engine{containers: map[string]*container.Summary{}, subs: map[*sub]struct{}{}, calls: map[string]int{}}
}

// sub is one EventStream call: an ordered, unbounded queue drained by one goroutine.
type sub struct {
	filters client.Filters
	mu      sync.Mutex
	queue   []events.Message
	wake    chan struct{}
	out     chan events.Message
	errs    chan error
	ended   chan struct{}
	once    sync.Once
	dropped *atomic.Int64
}

func (s *sub) push(m events.Message) {
	s.mu.Lock()
	s.queue = append(s.queue, m)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

func (s *sub) end(err error) {
	s.once.Do(func() {
		s.errs <- err
		close(s.ended)
	})
}

func (s *sub) run(ctx context.Context) {
	for {
		s.mu.Lock()
		var m events.Message
		ok := len(s.queue) > 0
		if ok {
			m = s.queue[0]
			s.queue = s.queue[1:]
		}
		s.mu.Unlock()
		if !ok {
			select {
			case <-s.wake:
				continue
			case <-s.ended:
				return
			case <-ctx.Done():
				s.end(ctx.Err())
				return
			}
		}
		// Like dockerd, give the subscriber 100 ms to take the event, then drop it.
		timer := time.NewTimer(100 * time.Millisecond)
		select {
		case s.out <- m:
		case <-timer.C:
			s.dropped.Add(1)
		case <-s.ended:
			timer.Stop()
			return
		case <-ctx.Done():
			timer.Stop()
			s.end(ctx.Err())
			return
		}
		timer.Stop()
	}
}

// Calls returns how many times a method ("Ping", "ContainerList", "ContainerInspect",
// "EventStream") was called.
func (e *Engine) Calls(method string) int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls[method]
}

// LastSince returns the since option of the last EventStream call.
func (e *Engine) LastSince() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.lastSince
}

func (e *Engine) call(method string) error {
	e.calls[method]++
	if e.down {
		return ErrDown
	}
	return nil
}

// Ping implements informer.Client.
func (e *Engine) Ping(ctx context.Context, _ client.PingOptions) (client.PingResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.call("Ping"); err != nil {
		return client.PingResult{}, err
	}
	return client.PingResult{APIVersion: "1.41"}, ctx.Err()
}

// ContainerList implements informer.Client; it lists all containers.
func (e *Engine) ContainerList(ctx context.Context, _ client.ContainerListOptions) (client.ContainerListResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.call("ContainerList"); err != nil {
		return client.ContainerListResult{}, err
	}
	out := client.ContainerListResult{}
	for _, c := range e.containers {
		out.Items = append(out.Items, *c)
	}
	return out, ctx.Err()
}

// ContainerInspect implements informer.Client.
func (e *Engine) ContainerInspect(_ context.Context, id string, _ client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if err := e.call("ContainerInspect"); err != nil {
		return client.ContainerInspectResult{}, err
	}
	c, ok := e.containers[id]
	if !ok {
		return client.ContainerInspectResult{}, fmt.Errorf("no such container: %s", id)
	}
	code := 0
	if n, ok := strings.CutPrefix(c.Status, "Exited ("); ok {
		code, _ = strconv.Atoi(n[:strings.IndexByte(n, ')')])
	}
	return client.ContainerInspectResult{Container: container.InspectResponse{
		ID:     c.ID,
		Name:   "/" + strings.TrimPrefix(c.Names[0], "/"),
		Config: &container.Config{Image: c.Image, Labels: c.Labels},
		State:  &container.State{Status: c.State, ExitCode: code},
	}}, nil
}

// EventStream implements informer.Client: it replays the ring from since
// (inclusive), then streams live events, applying the type and event filters.
// Like dockerd, it gives the stream's reader 100 ms to take each event (Next),
// then drops it.
func (e *Engine) EventStream(ctx context.Context, opts client.EventsListOptions) (eventstream.Stream, error) {
	s := &sub{
		filters: opts.Filters,
		wake:    make(chan struct{}, 1),
		out:     make(chan events.Message),
		errs:    make(chan error, 1),
		ended:   make(chan struct{}),
		dropped: &e.dropped,
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	e.lastSince = opts.Since
	if err := e.call("EventStream"); err != nil {
		return nil, err
	}
	if opts.Since != "" {
		since := parseSince(opts.Since)
		for i := range e.ring {
			if e.ring[i].TimeNano >= since && match(s.filters, &e.ring[i]) {
				s.push(e.ring[i])
			}
		}
	}
	e.subs[s] = struct{}{}
	go s.run(ctx)
	go func() {
		select {
		case <-ctx.Done():
		case <-s.ended:
		}
		e.mu.Lock()
		delete(e.subs, s)
		e.mu.Unlock()
	}()
	return eventstream.FromChannels(ctx, client.EventsResult{Messages: s.out, Err: s.errs}), nil
}

// parseSince reads Docker's seconds[.nanoseconds].
func parseSince(s string) int64 {
	sec, frac, _ := strings.Cut(s, ".")
	n, _ := strconv.ParseInt(sec, 10, 64)
	for len(frac) < 9 {
		frac += "0"
	}
	ns, _ := strconv.ParseInt(frac[:9], 10, 64)
	return n*int64(time.Second) + ns
}

// match applies the type and event filters the way dockerd does (event filters on
// exec_start, exec_create and health_status match a prefix).
func match(f client.Filters, m *events.Message) bool {
	if types := f["type"]; len(types) > 0 && !types[string(m.Type)] {
		return false
	}
	acts := f["event"]
	if len(acts) == 0 || acts[string(m.Action)] {
		return true
	}
	kind, _, _ := strings.Cut(string(m.Action), ":")
	switch kind {
	case "exec_start", "exec_create", "health_status":
		return acts[kind]
	}
	return false
}

// SetDown takes the engine down (every call fails, streams end) or brings it back.
// Like a restarted engine, it comes back with an empty ring.
func (e *Engine) SetDown(down bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.down = down
	if down {
		e.ring = nil
		for s := range e.subs {
			s.end(ErrDown)
			delete(e.subs, s)
		}
	}
}

// DropStreams ends every event stream with io.EOF, like a proxy cutting a long
// response; the engine stays up and keeps its ring.
func (e *Engine) DropStreams() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for s := range e.subs {
		s.end(io.EOF)
		delete(e.subs, s)
	}
}

// Subscribers returns how many event streams are open.
func (e *Engine) Subscribers() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.subs)
}
