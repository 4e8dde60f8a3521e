// Package faultproxy is the one fault-injecting TCP proxy of docker-eventsd's
// tests, benchmarks and soaks. It stands between the daemon and one engine,
// like the network between two hosts, and breaks that network on demand
// without touching the engine: it refuses (every connection reset), blackholes
// (bytes dropped, new connections never answered), stalls (bytes held, as TCP
// holds them across a partition that heals), delays (a slow link) and resets
// (every open connection cut once). It also notes when the engine first
// answered after a mark, for the recovery benchmark (P5).
//
// The proxy works on bytes, not HTTP: it forwards anything, TLS included.
package faultproxy

import (
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// Mode is how a Proxy treats the bytes and the connections it carries.
type Mode string

// Modes of a Proxy.
const (
	// Pass forwards bytes both ways.
	Pass Mode = "pass"
	// Refuse resets every open connection (TCP RST) and every new one.
	Refuse Mode = "refuse"
	// Blackhole keeps connections open but drops what they carry, both ways,
	// and accepts new ones that never answer, even once the blackhole ends: a
	// peer gone without a reset. The daemon's heartbeat is what notices.
	Blackhole Mode = "blackhole"
	// Stall forwards nothing, in either direction, and accepts new
	// connections without answering: a hung engine, or a partition. What was
	// sent waits, and flows again when the mode changes.
	Stall Mode = "stall"
	// Delay forwards every chunk of bytes after the delay given to SetDelay.
	Delay Mode = "delay"
)

// chunkSize is the most a pipe reads at once.
const chunkSize = 32 << 10

// dialTimeout bounds the proxy's connection to its target.
const dialTimeout = 5 * time.Second

// Proxy forwards one loopback port to a target address. Create it with Open
// or New; the zero value is not usable.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	mode    Mode
	delay   time.Duration
	changed chan struct{} // closed at each change of mode
	conns   map[net.Conn]struct{}
	sinks   int // connections admitted during a blackhole and still open
	closed  bool
	// mark is when Mark was last called; firstReply is when the target first
	// sent bytes on a connection opened after it (zero: not yet).
	mark, firstReply time.Time
}

// Open starts a proxy to target (host:port, or tcp://host:port) on a free
// loopback port. Close stops it.
func Open(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &Proxy{
		ln:      ln,
		target:  strings.TrimPrefix(target, "tcp://"),
		mode:    Pass,
		changed: make(chan struct{}),
		conns:   map[net.Conn]struct{}{},
	}
	go p.serve()
	return p, nil
}

// New is Open for a test: it fails the test when the proxy cannot start, and
// closes the proxy when the test ends.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	p, err := Open(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p
}

// URL is the proxy's address as a Docker host (tcp://127.0.0.1:PORT).
func (p *Proxy) URL() string { return "tcp://" + p.Addr() }

// Addr is the proxy's address (127.0.0.1:PORT).
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Set switches the mode. Refuse resets every open connection at once. Set
// with Delay keeps the delay last given to SetDelay.
func (p *Proxy) Set(mode Mode) {
	p.mu.Lock()
	p.mode = mode
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	if mode == Refuse {
		p.Reset()
	}
}

// SetDelay switches to Delay: every chunk of bytes is forwarded d after it
// was read.
func (p *Proxy) SetDelay(d time.Duration) {
	p.mu.Lock()
	p.delay = d
	p.mu.Unlock()
	p.Set(Delay)
}

// Reset closes every open connection with a TCP reset (SO_LINGER 0); the
// mode is unchanged, so new connections pass when it is Pass.
func (p *Proxy) Reset() {
	p.mu.Lock()
	conns := make([]net.Conn, 0, len(p.conns))
	for c := range p.conns {
		conns = append(conns, c)
	}
	clear(p.conns)
	p.mu.Unlock()
	for _, c := range conns {
		abort(c)
	}
}

// Mark starts watching for the target's first answer: FirstReply returns
// when the target first sent bytes on a connection the proxy opened after
// the mark. After an engine was killed and is started again, that is its
// first answer to the daemon (the session's ping).
func (p *Proxy) Mark() {
	p.mu.Lock()
	p.mark, p.firstReply = time.Now(), time.Time{}
	p.mu.Unlock()
}

// FirstReply returns when the target first answered after Mark (zero: not
// yet, or no mark).
func (p *Proxy) FirstReply() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstReply
}

// Close stops the proxy and resets every connection. It may be called more
// than once.
func (p *Proxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.Set(Pass) // wakes every stalled or delayed pipe, which then sees its connection gone
	p.Reset()
}

// Sinks is how many connections accepted during a blackhole are still open
// (and stay sinks whatever the mode becomes). A test that dials during a
// blackhole waits for it before changing the mode: the kernel accepts a
// connection before the proxy sees it.
func (p *Proxy) Sinks() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.sinks
}

func (p *Proxy) state() (mode Mode, delay time.Duration, changed <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.delay, p.changed
}

// track records open connections, so that Refuse, Reset and Close can cut
// them; it refuses once the proxy is closed.
func (p *Proxy) track(cs ...net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return false
	}
	for _, c := range cs {
		p.conns[c] = struct{}{}
	}
	return true
}

func (p *Proxy) tracked(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.conns[c]
	return ok
}

func (p *Proxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

// abort closes c with a reset.
func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

// admit waits while the proxy stalls and reports what to do with a new
// connection: the mode it is admitted under (Refuse: reset it), or false when
// it was cut meanwhile.
func (p *Proxy) admit(c net.Conn) (Mode, bool) {
	for {
		mode, _, changed := p.state()
		if mode != Stall {
			return mode, p.tracked(c)
		}
		<-changed
	}
}

func (p *Proxy) handle(c net.Conn) {
	if !p.track(c) {
		abort(c)
		return
	}
	mode, ok := p.admit(c)
	switch {
	case !ok:
		abort(c)
		return
	case mode == Refuse:
		p.untrack(c)
		abort(c)
		return
	case mode == Blackhole:
		p.sink(c)
		return
	}
	up, err := net.DialTimeout("tcp", p.target, dialTimeout)
	if err != nil {
		p.untrack(c)
		abort(c)
		return
	}
	opened := time.Now()
	if !p.track(up) {
		abort(up)
		abort(c)
		return
	}
	done := make(chan struct{}, 2)
	go p.pipe(up, c, nil, done)
	go p.pipe(c, up, func(at time.Time) { p.replied(opened, at) }, done)
	<-done
	// One direction ended: end the other one too.
	p.untrack(c, up)
	c.Close()
	up.Close()
	<-done
}

// sink reads and drops what a connection accepted during a blackhole sends,
// until it is closed.
func (p *Proxy) sink(c net.Conn) {
	p.mu.Lock()
	p.sinks++
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.sinks--
		p.mu.Unlock()
		p.untrack(c)
		c.Close()
	}()
	buf := make([]byte, chunkSize)
	for {
		if _, err := c.Read(buf); err != nil {
			return
		}
	}
}

// replied notes the target's first bytes (read at at) on a connection opened
// at opened.
func (p *Proxy) replied(opened, at time.Time) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.mark.IsZero() && p.firstReply.IsZero() && opened.After(p.mark) {
		p.firstReply = at
	}
}

// chunk is bytes read from one side, with when they were read.
type chunk struct {
	data []byte
	at   time.Time
}

// pipe copies src to dst: a reader that never waits (it drops what it reads
// during a blackhole), and a writer that applies the mode, in order. first,
// when not nil, is called with the time of the first chunk read.
func (p *Proxy) pipe(dst, src net.Conn, first func(time.Time), done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	queue := make(chan chunk, 4096)
	go func() {
		defer close(queue)
		for {
			buf := make([]byte, chunkSize)
			n, err := src.Read(buf)
			if n > 0 {
				now := time.Now()
				if first != nil {
					first(now)
					first = nil
				}
				if mode, _, _ := p.state(); mode != Blackhole {
					queue <- chunk{data: buf[:n], at: now}
				}
			}
			if err != nil {
				return
			}
		}
	}()
	drain := func() {
		for range queue {
		}
	}
	for ch := range queue {
		if !p.hold(dst, ch) {
			drain()
			return
		}
		if mode, _, _ := p.state(); mode == Blackhole {
			continue
		}
		if _, err := dst.Write(ch.data); err != nil {
			drain()
			return
		}
	}
}

// hold waits while the proxy stalls, and while a delayed chunk is not due.
// It returns false once dst was cut meanwhile.
func (p *Proxy) hold(dst net.Conn, ch chunk) bool {
	for {
		mode, delay, changed := p.state()
		if !p.tracked(dst) {
			return false
		}
		var wait time.Duration
		switch mode {
		case Stall:
			<-changed
			continue
		case Delay:
			wait = time.Until(ch.at.Add(delay))
		}
		if wait <= 0 {
			return true
		}
		t := time.NewTimer(wait)
		select {
		case <-t.C:
		case <-changed:
		}
		t.Stop()
	}
}
