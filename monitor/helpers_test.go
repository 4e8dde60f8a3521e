package monitor

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// recorder is a Handler that keeps the events it gets.
type recorder struct {
	ch chan *informer.Event
}

func newRecorder() *recorder { return &recorder{ch: make(chan *informer.Event, 1024)} }

func (r *recorder) Handle(ev *informer.Event) { r.ch <- ev }

// next returns the next event, failing the test after within.
func (r *recorder) next(t *testing.T, within time.Duration) *informer.Event {
	t.Helper()
	select {
	case ev := <-r.ch:
		return ev
	case <-time.After(within):
		t.Fatalf("no event within %s", within)
		return nil
	}
}

// none checks that no event comes for d.
func (r *recorder) none(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev := <-r.ch:
		t.Fatalf("unexpected event %s %+v", ev.Action, ev.Monitor)
	case <-time.After(d):
	}
}

// fastMonitor returns a monitor checking every 20 ms, down after 3 failed
// checks, up after 2 good ones.
func fastMonitor(name string) config.Monitor {
	return config.Monitor{Name: name, Interval: 20 * time.Millisecond, Timeout: 15 * time.Millisecond, Failures: 3, Successes: 2}
}

// runScheduler starts a Scheduler of opts and stops it at the end of the
// test, checking that Run returned with every target goroutine gone.
func runScheduler(t *testing.T, opts Options) *Scheduler {
	t.Helper()
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		s.Run(ctx)
		close(done)
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		if n := s.Running(); n != 0 {
			t.Errorf("%d targets still running after Run returned", n)
		}
	})
	return s
}

// acceptor is a real TCP listener that accepts and closes, and can be
// closed and opened again on the same port.
type acceptor struct {
	t    *testing.T
	addr string
	mu   sync.Mutex
	ln   net.Listener
	wg   sync.WaitGroup
}

func newAcceptor(t *testing.T) *acceptor {
	a := &acceptor{t: t, addr: "127.0.0.1:0"}
	a.open()
	t.Cleanup(a.close)
	return a
}

func (a *acceptor) open() {
	a.t.Helper()
	var ln net.Listener
	var err error
	for range 50 { // the port may linger a moment after close
		if ln, err = net.Listen("tcp", a.addr); err == nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err != nil {
		a.t.Fatal(err)
	}
	a.mu.Lock()
	a.ln, a.addr = ln, ln.Addr().String()
	a.mu.Unlock()
	a.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	})
}

func (a *acceptor) close() {
	a.mu.Lock()
	ln := a.ln
	a.ln = nil
	a.mu.Unlock()
	if ln != nil {
		ln.Close()
		a.wg.Wait()
	}
}

// fakeCache is an in-process container cache (Cache).
type fakeCache struct {
	mu sync.Mutex
	m  map[string]*informer.Container
}

func newFakeCache() *fakeCache { return &fakeCache{m: map[string]*informer.Container{}} }

func (c *fakeCache) List() []*informer.Container {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make([]*informer.Container, 0, len(c.m))
	for _, ct := range c.m {
		out = append(out, ct)
	}
	return out
}

func (c *fakeCache) Get(id string) *informer.Container {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.m[id]
}

func (c *fakeCache) put(ct *informer.Container) {
	c.mu.Lock()
	c.m[ct.ID] = ct
	c.mu.Unlock()
}

func (c *fakeCache) remove(id string) {
	c.mu.Lock()
	delete(c.m, id)
	c.mu.Unlock()
}

// engines is a fixed EngineSet.
type engines []Engine

func (e engines) MonitorEngines() []Engine { return e }

// waitFor polls cond until it holds, failing the test after within.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
