package faultproxy_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/faultproxy"
)

// echo starts a line echo server on a loopback port: it answers each line
// with the same line.
func echo(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// conn is a client connection through the proxy.
type conn struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, p *faultproxy.Proxy) *conn {
	t.Helper()
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return &conn{t: t, c: c, r: bufio.NewReader(c)}
}

func (c *conn) send(line string) {
	c.t.Helper()
	if _, err := io.WriteString(c.c, line+"\n"); err != nil {
		c.t.Fatalf("write %q: %v", line, err)
	}
}

// recv reads one line within timeout.
func (c *conn) recv(timeout time.Duration) (string, error) {
	_ = c.c.SetReadDeadline(time.Now().Add(timeout))
	s, err := c.r.ReadString('\n')
	return strings.TrimSuffix(s, "\n"), err
}

// expect reads the line want within a second.
func (c *conn) expect(want string) {
	c.t.Helper()
	got, err := c.recv(time.Second)
	if err != nil || got != want {
		c.t.Fatalf("read %q, %v; want %q", got, err, want)
	}
}

// expectSilence checks that nothing arrives for a while.
func (c *conn) expectSilence(d time.Duration) {
	c.t.Helper()
	got, err := c.recv(d)
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("read %q, %v; want nothing for %v", got, err, d)
	}
}

// expectCut checks that the connection ends (reset or EOF) within a second.
func (c *conn) expectCut() {
	c.t.Helper()
	got, err := c.recv(time.Second)
	if err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		c.t.Fatalf("read %q, %v; want the connection cut", got, err)
	}
}

func TestPassForwardsBothWays(t *testing.T) {
	p := faultproxy.New(t, "tcp://"+echo(t))
	if !strings.HasPrefix(p.URL(), "tcp://127.0.0.1:") {
		t.Fatalf("URL %q", p.URL())
	}
	c := dial(t, p)
	for _, s := range []string{"one", "two", strings.Repeat("x", 100<<10)} {
		c.send(s)
		c.expect(s)
	}
}

func TestRefuseCutsOpenConnectionsAndEveryNewOne(t *testing.T) {
	p := faultproxy.New(t, echo(t))
	c := dial(t, p)
	c.send("before")
	c.expect("before")
	p.Set(faultproxy.Refuse)
	c.expectCut()
	refused := dial(t, p)
	refused.expectCut()
	p.Set(faultproxy.Pass)
	again := dial(t, p)
	again.send("after")
	again.expect("after")
}

func TestBlackholeDropsBytesAndNeverAnswersNewConnections(t *testing.T) {
	p := faultproxy.New(t, echo(t))
	c := dial(t, p)
	c.send("before")
	c.expect("before")
	p.Set(faultproxy.Blackhole)
	c.send("lost")
	c.expectSilence(200 * time.Millisecond)
	hole := dial(t, p)
	hole.send("into the hole")
	for deadline := time.Now().Add(10 * time.Second); p.Sinks() == 0; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the proxy never admitted the connection dialled during the blackhole")
		}
	}
	hole.expectSilence(100 * time.Millisecond)
	p.Set(faultproxy.Pass)
	// What was sent during the blackhole is gone; the open connection works again.
	c.send("after")
	c.expect("after")
	// A connection accepted during the blackhole stays a sink.
	hole.send("still nothing")
	hole.expectSilence(200 * time.Millisecond)
}

func TestStallHoldsBytesUntilTheModeChanges(t *testing.T) {
	p := faultproxy.New(t, echo(t))
	c := dial(t, p)
	c.send("before")
	c.expect("before")
	p.Set(faultproxy.Stall)
	c.send("held")
	c.expectSilence(200 * time.Millisecond)
	late := dial(t, p) // accepted, unanswered until the stall ends
	late.send("waiting")
	late.expectSilence(100 * time.Millisecond)
	p.Set(faultproxy.Pass)
	c.expect("held")
	late.expect("waiting")
}

func TestDelayForwardsEachChunkAfterTheDelay(t *testing.T) {
	p := faultproxy.New(t, echo(t))
	c := dial(t, p)
	const d = 150 * time.Millisecond
	p.SetDelay(d)
	start := time.Now()
	c.send("slow")
	c.expect("slow")
	// Delayed once on the way there and once on the way back.
	if took := time.Since(start); took < 2*d {
		t.Fatalf("echo took %v through a %v delay each way", took, d)
	}
	p.Set(faultproxy.Pass)
	start = time.Now()
	c.send("fast")
	c.expect("fast")
	if took := time.Since(start); took >= d {
		t.Fatalf("echo took %v after the delay ended", took)
	}
}

func TestResetCutsOpenConnectionsOnlyOnce(t *testing.T) {
	p := faultproxy.New(t, echo(t))
	c := dial(t, p)
	c.send("before")
	c.expect("before")
	p.Reset()
	c.expectCut()
	again := dial(t, p)
	again.send("after")
	again.expect("after")
}

func TestFirstReplyIsTheTargetsFirstAnswerOnAConnectionOpenedAfterTheMark(t *testing.T) {
	p := faultproxy.New(t, echo(t))
	old := dial(t, p)
	old.send("old")
	old.expect("old")
	if got := p.FirstReply(); !got.IsZero() {
		t.Fatalf("FirstReply before any mark: %v", got)
	}
	p.Mark()
	mark := time.Now()
	// An answer on a connection opened before the mark does not count.
	old.send("still old")
	old.expect("still old")
	if got := p.FirstReply(); !got.IsZero() {
		t.Fatalf("FirstReply after an answer on an old connection: %v", got)
	}
	c := dial(t, p)
	c.send("new")
	c.expect("new")
	got := p.FirstReply()
	if got.IsZero() || got.Before(mark) || got.After(time.Now()) {
		t.Fatalf("FirstReply %v; want between the mark %v and now", got, mark)
	}
	c.send("second")
	c.expect("second")
	if again := p.FirstReply(); !again.Equal(got) {
		t.Fatalf("FirstReply moved from %v to %v", got, again)
	}
}

func TestCloseCutsEverythingAndRefusesNewConnections(t *testing.T) {
	p, err := faultproxy.Open(echo(t))
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p)
	c.send("before")
	c.expect("before")
	p.Set(faultproxy.Stall)
	c.send("held")
	p.Close()
	c.expectCut()
	if nc, err := net.DialTimeout("tcp", p.Addr(), time.Second); err == nil {
		nc.Close()
		t.Fatal("a closed proxy accepted a connection")
	}
	p.Close() // a second Close is harmless
}
