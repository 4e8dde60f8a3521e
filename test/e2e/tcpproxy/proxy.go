// Package tcpproxy is a TCP proxy for tests that stands between docker-eventsd and a
// real engine and can cut the connection (Refuse) or make it go silent (Blackhole),
// the two ways a host is lost without the engine itself being touched.
package tcpproxy

import (
	"net"
	"sync"
	"testing"
)

// Modes of a Proxy.
const (
	// Pass forwards bytes both ways.
	Pass = "pass"
	// Refuse closes every open connection and every new one.
	Refuse = "refuse"
	// Blackhole keeps connections open but drops what they carry, and accepts new
	// ones that never answer: a hung engine, or a peer gone without a reset.
	Blackhole = "blackhole"
)

// Proxy forwards one loopback port to a target address.
type Proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	mode   string
	conns  map[net.Conn]struct{}
}

// New starts a proxy to target (host:port) on a free loopback port; it is closed
// when the test ends.
func New(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Proxy{ln: ln, target: target, mode: Pass, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.closeAll()
	})
	return p
}

// URL is the proxy's address as a Docker host (tcp://127.0.0.1:PORT).
func (p *Proxy) URL() string { return "tcp://" + p.ln.Addr().String() }

// Set switches the mode.
func (p *Proxy) Set(mode string) {
	p.mu.Lock()
	p.mode = mode
	p.mu.Unlock()
	if mode == Refuse {
		p.closeAll()
	}
}

func (p *Proxy) is(mode string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.mode == mode
}

func (p *Proxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns[c] = struct{}{}
	p.mu.Unlock()
}

func (p *Proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		switch {
		case p.is(Refuse):
			c.Close()
		case p.is(Blackhole):
			p.track(c)
			go p.pipe(nil, c)
		default:
			up, err := net.Dial("tcp", p.target)
			if err != nil {
				c.Close()
				continue
			}
			p.track(c)
			p.track(up)
			go p.pipe(up, c)
			go p.pipe(c, up)
		}
	}
}

// pipe copies src to dst (nil: nowhere), dropping what it reads while the proxy
// blackholes.
func (p *Proxy) pipe(dst, src net.Conn) {
	if dst != nil {
		defer dst.Close()
	}
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && dst != nil && !p.is(Blackhole) {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return
		}
	}
}

func (p *Proxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}
