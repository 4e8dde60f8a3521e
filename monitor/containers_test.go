package monitor

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// loopback is an Inspector that puts every container on 127.0.0.1, counting
// its calls.
type loopback struct{ calls atomic.Int64 }

func (l *loopback) Network(context.Context, string, string) (Network, error) {
	l.calls.Add(1)
	return Network{IPs: map[string]string{"bridge": "127.0.0.1"}}, nil
}

func running(id, name string, labels map[string]string) *informer.Container {
	return &informer.Container{ID: id, Engine: "a", Name: name, State: informer.StateRunning, Labels: labels}
}

func TestContainerTargetsFollowTheCache(t *testing.T) {
	ln := newAcceptor(t)
	_, port, _ := splitPort(ln.addr)
	cache := newFakeCache()
	m := fastMonitor("mysql")
	m.Kind, m.TCP = config.MonitorTCP, &config.TCPCheck{Port: port}
	m.Targets = config.MonitorTargets{Containers: true, Selector: config.Selector{FromContainer: "db-*", Labels: map[string]string{"role": "master"}}}
	rec := newRecorder()
	insp := &loopback{}
	s := runScheduler(t, Options{Monitors: []config.Monitor{m}, Handler: rec, Inspector: insp,
		Engines: engines{{Name: "a", URL: "unix:///var/run/docker.sock", Cache: cache}}, Resync: time.Hour})

	cache.put(running("c1", "db-1", map[string]string{"role": "master"}))
	cache.put(running("c2", "db-2", map[string]string{"role": "replica"}))
	cache.put(running("c3", "web-1", map[string]string{"role": "master"}))
	s.Notify(&informer.Event{Type: informer.TypeContainer, Engine: "a", ActorID: "c1", Action: "start"})
	waitFor(t, 2*time.Second, "db-1 up", func() bool { r, _ := s.Results().Result("mysql", "a", "c1"); return r == config.MonitorUp })
	if n := s.Running(); n != 1 {
		t.Fatalf("%d targets, want only db-1", n)
	}
	checks := s.Checks()
	waitFor(t, 2*time.Second, "more checks", func() bool { return s.Checks() > checks+5 })
	if n := insp.calls.Load(); n != 1 {
		t.Errorf("%d inspects for one target start, want 1 (none per check)", n)
	}

	ln.close()
	ev := rec.next(t, 2*time.Second)
	if ev.Action != config.TypeTCPRefused || ev.Engine != "a" || ev.Container == nil || ev.Container.Name != "db-1" ||
		ev.Monitor.Target != "db-1" || ev.Monitor.Address != ln.addr || ev.ActorID != "mysql/c1" {
		t.Fatalf("event = %s engine %q %+v", ev.Action, ev.Engine, ev.Monitor)
	}

	// The container stops: its target goes, and its result with it.
	c := *cache.Get("c1")
	c.State = informer.StateExited
	cache.put(&c)
	s.Notify(&informer.Event{Type: informer.TypeContainer, Engine: "a", ActorID: "c1", Action: "die"})
	waitFor(t, 2*time.Second, "the target stopped", func() bool { return s.Running() == 0 })
	if _, ok := s.Results().Result("mysql", "a", "c1"); ok {
		t.Error("a stopped container keeps a result")
	}
	rec.none(t, 100*time.Millisecond)
}

func splitPort(addr string) (string, int, error) {
	for i := len(addr) - 1; i >= 0; i-- {
		if addr[i] == ':' {
			p, err := strconv.Atoi(addr[i+1:])
			return addr[:i], p, err
		}
	}
	return "", 0, fmt.Errorf("no port in %q", addr)
}

// openFDs returns the number of open file descriptors of the process.
func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd")
	}
	return len(entries)
}

func TestTenThousandContainerLifecyclesLeakNoGoroutineNorConnection(t *testing.T) {
	ln := newAcceptor(t)
	_, port, _ := splitPort(ln.addr)
	cache := newFakeCache()
	tcp := fastMonitor("tcp")
	tcp.Kind, tcp.TCP = config.MonitorTCP, &config.TCPCheck{Port: port}
	tcp.Targets = config.MonitorTargets{Containers: true, Selector: config.Selector{FromContainer: "c-*"}}
	web := tcp
	web.Name, web.Kind, web.TCP = "http", config.MonitorHTTP, nil
	web.HTTP = &config.HTTPCheck{URL: "http://{{.Address}}:" + strconv.Itoa(port) + "/", Method: "GET"}

	runtime.GC()
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)
	// A handler that never blocks: under -race some checks time out.
	handler := informer.HandlerFunc(func(*informer.Event) {})
	s, err := New(Options{Monitors: []config.Monitor{tcp, web}, Handler: handler, Inspector: &loopback{},
		Engines: engines{{Name: "a", URL: "unix:///x", Cache: cache}}, Resync: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	// Driven by hand: sync is what Run calls on each Notify.
	const lifecycles, batch = 10000, 200
	for i := 0; i < lifecycles; i += batch {
		for j := i; j < i+batch; j++ {
			cache.put(running("id"+strconv.Itoa(j), "c-"+strconv.Itoa(j), nil))
		}
		s.sync(ctx)
		if n := len(s.targets); n != 2*batch {
			t.Fatalf("%d targets running for %d containers of 2 monitors", n, batch)
		}
		time.Sleep(25 * time.Millisecond) // about one check of each target
		for j := i; j < i+batch; j++ {
			cache.remove("id" + strconv.Itoa(j))
		}
		s.sync(ctx)
	}
	s.stopAll()
	cancel()
	if s.Checks() == 0 {
		t.Fatal("no check ran")
	}
	if n := s.Results().Len(); n != 0 {
		t.Errorf("%d results left", n)
	}
	var g, fd int
	waitFor(t, 5*time.Second, "goroutines and descriptors back to where they started", func() bool {
		runtime.GC()
		g, fd = runtime.NumGoroutine(), openFDs(t)
		return g <= baseG && fd <= baseFD
	})
	t.Logf("%d checks; goroutines %d -> %d, fds %d -> %d", s.Checks(), baseG, g, baseFD, fd)
}
