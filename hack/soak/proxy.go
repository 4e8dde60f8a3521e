package main

import (
	"net"
	"sync"
	"time"
)

// Proxy modes. The proxy stands between the daemon and one engine, like the
// network between two hosts; it grows test/e2e/tcpproxy (pass, refuse,
// blackhole) with a reset and a delay, and a stall that holds bytes instead of
// dropping them, as TCP does across a partition that heals.
const (
	// modePass forwards bytes both ways.
	modePass = "pass"
	// modeRefuse closes every open connection with a reset and refuses new ones.
	modeRefuse = "refuse"
	// modeStall forwards nothing, in either direction, and accepts new
	// connections without answering: a hung engine, or a partition. What was
	// sent waits, and flows again when the mode changes.
	modeStall = "stall"
	// modeDelay forwards every chunk of bytes after a delay (a slow link).
	modeDelay = "delay"
)

// faultProxy forwards a loopback port to an engine's TCP address.
type faultProxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	mode    string
	delay   time.Duration
	changed chan struct{} // closed at each change of mode
	conns   map[net.Conn]struct{}
	closed  bool
}

// newFaultProxy starts a proxy to target (host:port) on a free loopback port.
func newFaultProxy(target string) (*faultProxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &faultProxy{ln: ln, target: target, mode: modePass, changed: make(chan struct{}), conns: map[net.Conn]struct{}{}}
	go p.serve()
	return p, nil
}

// URL is the proxy's address as a Docker host.
func (p *faultProxy) URL() string { return "tcp://" + p.ln.Addr().String() }

// Close stops the proxy and closes every connection.
func (p *faultProxy) Close() {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	p.ln.Close()
	p.set(modePass, 0)
	p.resetAll()
}

// set switches the mode; delay is for modeDelay.
func (p *faultProxy) set(mode string, delay time.Duration) {
	p.mu.Lock()
	p.mode, p.delay = mode, delay
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	if mode == modeRefuse {
		p.resetAll()
	}
}

// reset closes every open connection with a TCP reset; new ones pass.
func (p *faultProxy) reset() { p.resetAll() }

func (p *faultProxy) state() (mode string, delay time.Duration, changed <-chan struct{}) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode, p.delay, p.changed
}

// waitNotStalled blocks while the proxy stalls; it returns false once the
// connection c was closed meanwhile.
func (p *faultProxy) waitNotStalled(c net.Conn) bool {
	for {
		mode, _, changed := p.state()
		if mode != modeStall {
			return p.tracked(c)
		}
		<-changed
	}
}

func (p *faultProxy) track(cs ...net.Conn) bool {
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

func (p *faultProxy) tracked(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, ok := p.conns[c]
	return ok
}

func (p *faultProxy) untrack(cs ...net.Conn) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range cs {
		delete(p.conns, c)
	}
}

// resetAll closes every connection with a reset (SO_LINGER 0).
func (p *faultProxy) resetAll() {
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

func abort(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	c.Close()
}

func (p *faultProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		go p.handle(c)
	}
}

// refuse aborts c when the proxy refuses connections now, and reports
// whether it did.
func (p *faultProxy) refuse(c net.Conn) bool {
	if mode, _, _ := p.state(); mode != modeRefuse {
		return false
	}
	p.untrack(c)
	abort(c)
	return true
}

func (p *faultProxy) handle(c net.Conn) {
	if !p.track(c) {
		abort(c)
		return
	}
	if p.refuse(c) {
		return
	}
	// A connection made during a stall waits for it to end, unanswered.
	if !p.waitNotStalled(c) {
		abort(c)
		return
	}
	if p.refuse(c) {
		return
	}
	up, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		p.untrack(c)
		abort(c)
		return
	}
	if !p.track(up) {
		abort(up)
		abort(c)
		return
	}
	done := make(chan struct{}, 2)
	go p.pipe(up, c, done)
	go p.pipe(c, up, done)
	<-done
	// One direction ended: end the other one too.
	p.untrack(c, up)
	c.Close()
	up.Close()
	<-done
}

// chunk is bytes read from one side, with when they were read.
type chunk struct {
	data []byte
	at   time.Time
}

// pipe copies src to dst: a reader that never waits, and a writer that
// applies the stall and the delay, in order.
func (p *faultProxy) pipe(dst, src net.Conn, done chan<- struct{}) {
	defer func() { done <- struct{}{} }()
	queue := make(chan chunk, 4096)
	go func() {
		defer close(queue)
		for {
			buf := make([]byte, 32<<10)
			n, err := src.Read(buf)
			if n > 0 {
				queue <- chunk{data: buf[:n], at: time.Now()}
			}
			if err != nil {
				return
			}
		}
	}()
	for ch := range queue {
		for {
			if !p.waitNotStalled(dst) {
				// Closed by a reset: drain the reader and end.
				for range queue {
				}
				return
			}
			mode, delay, changed := p.state()
			if mode != modeDelay {
				break
			}
			wait := time.Until(ch.at.Add(delay))
			if wait <= 0 {
				break
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-changed:
			}
			t.Stop()
		}
		if _, err := dst.Write(ch.data); err != nil {
			for range queue {
			}
			return
		}
	}
}
