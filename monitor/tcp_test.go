package monitor

import (
	"net"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
)

func TestTCPPortClosedGoesDownRefusedThenOpenedComesBackOK(t *testing.T) {
	ln := newAcceptor(t)
	m := fastMonitor("db")
	m.Kind, m.TCP = config.MonitorTCP, &config.TCPCheck{Address: ln.addr}
	rec := newRecorder()
	s := runScheduler(t, Options{Monitors: []config.Monitor{m}, Handler: rec})

	waitFor(t, 2*time.Second, "the target up", func() bool { r, _ := s.Results().Result("db", "", ln.addr); return r == config.MonitorUp })
	rec.none(t, 100*time.Millisecond) // starting -> up makes no event

	ln.close()
	ev := rec.next(t, 2*time.Second)
	if ev.Action != config.TypeTCPRefused || ev.Type != "monitor" || !ev.Monitor.Down || ev.Monitor.Failures != 3 ||
		ev.Monitor.Error != "connection refused" || ev.Monitor.Target != ln.addr || ev.Engine != "" || ev.Container != nil {
		t.Fatalf("down event = %s %+v", ev.Action, ev.Monitor)
	}
	if r, _ := s.Results().Result("db", "", ln.addr); r != config.MonitorDown {
		t.Errorf("result = %q, want down", r)
	}
	rec.none(t, 150*time.Millisecond) // still down: no second event

	ln.open()
	ev = rec.next(t, 2*time.Second)
	if ev.Action != config.TypeTCPOK || ev.Monitor.Down || ev.Monitor.Failures != 0 || ev.Monitor.Error != "" {
		t.Fatalf("up event = %s %+v", ev.Action, ev.Monitor)
	}
	if ev.ActorID != "db/"+ln.addr || ev.ID == "" {
		t.Errorf("actor %q id %q", ev.ActorID, ev.ID)
	}
}

// fullListener returns the address of a listening socket whose accept
// queue is full and never drained: the kernel drops new SYNs, so a connect
// times out.
func fullListener(t *testing.T) string {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(sa.(*syscall.SockaddrInet4).Port))
	// Fill the queue: connections that are never accepted.
	for range 4 {
		c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond)
		if err == nil {
			t.Cleanup(func() { c.Close() })
		}
	}
	return addr
}

func TestTCPListenerThatNeverAcceptsTimesOut(t *testing.T) {
	addr := fullListener(t)
	m := fastMonitor("db")
	m.Kind, m.TCP = config.MonitorTCP, &config.TCPCheck{Address: addr}
	rec := newRecorder()
	runScheduler(t, Options{Monitors: []config.Monitor{m}, Handler: rec})
	ev := rec.next(t, 2*time.Second)
	if ev.Action != config.TypeTCPTimeout || !ev.Monitor.Down || ev.Monitor.Failures != 3 {
		t.Fatalf("event = %s %+v", ev.Action, ev.Monitor)
	}
}

func TestStartPeriodFailuresDoNotCount(t *testing.T) {
	ln := newAcceptor(t)
	addr := ln.addr
	ln.close()
	m := fastMonitor("db")
	m.Kind, m.TCP, m.StartPeriod = config.MonitorTCP, &config.TCPCheck{Address: addr}, 300*time.Millisecond
	rec := newRecorder()
	start := time.Now()
	runScheduler(t, Options{Monitors: []config.Monitor{m}, Handler: rec})
	ev := rec.next(t, 2*time.Second)
	if took := time.Since(start); took < 300*time.Millisecond {
		t.Errorf("down after %s, within the start period", took)
	}
	if ev.Action != config.TypeTCPRefused || ev.Monitor.Failures != 3 {
		t.Errorf("event = %s %+v", ev.Action, ev.Monitor)
	}
}
