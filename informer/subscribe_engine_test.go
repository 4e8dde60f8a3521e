package informer_test

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/internal/testenv"
)

// eventsHoldingProxy forwards a loopback port to a real engine, and holds the
// first GET /events the way dockerd itself answers it, only wider: it answers
// the headers at once (dockerd flushes them before it subscribes to its events,
// and the client's Events returns on them), and sends the request on to the
// engine, which then subscribes, only when released. Everything else passes.
type eventsHoldingProxy struct {
	ln      net.Listener
	target  string
	held    chan struct{} // closed when the first GET /events is held
	release chan struct{}

	mu       sync.Mutex
	since    []string // of each GET /events
	released bool
	conns    map[net.Conn]struct{}
}

func newEventsHoldingProxy(t *testing.T, target string) *eventsHoldingProxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &eventsHoldingProxy{ln: ln, target: target, held: make(chan struct{}), release: make(chan struct{}),
		conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() {
		ln.Close()
		p.Release()
		p.mu.Lock()
		defer p.mu.Unlock()
		for c := range p.conns {
			c.Close()
		}
	})
	return p
}

// URL is the proxy's address as a Docker host.
func (p *eventsHoldingProxy) URL() string { return "tcp://" + p.ln.Addr().String() }

// Release lets the held GET /events go on to the engine.
func (p *eventsHoldingProxy) Release() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.released {
		p.released = true
		close(p.release)
	}
}

// Since returns the since of each GET /events.
func (p *eventsHoldingProxy) Since() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.since...)
}

func (p *eventsHoldingProxy) track(c net.Conn) {
	p.mu.Lock()
	p.conns[c] = struct{}{}
	p.mu.Unlock()
}

func (p *eventsHoldingProxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.track(c)
		go p.handle(c)
	}
}

// handle forwards one connection; the Docker client sends one request per
// connection here (no keep-alive without TLS, the event stream on its own).
func (p *eventsHoldingProxy) handle(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	req, err := http.ReadRequest(br)
	if err != nil {
		return
	}
	hold := false
	if strings.HasSuffix(req.URL.Path, "/events") {
		p.mu.Lock()
		p.since = append(p.since, req.URL.Query().Get("since"))
		hold = len(p.since) == 1
		p.mu.Unlock()
	}
	if hold {
		if _, err := io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n"); err != nil {
			return
		}
		close(p.held)
		<-p.release
	}
	up, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	p.track(up)
	defer up.Close()
	if err := req.Write(up); err != nil {
		return
	}
	if !hold {
		go func() {
			_, _ = io.Copy(up, br)
		}()
		_, _ = io.Copy(c, up)
		return
	}
	// The engine's own headers were answered already: pass its body on.
	resp, err := http.ReadResponse(bufio.NewReader(up), req)
	if err != nil {
		return
	}
	defer resp.Body.Close()
	cw := httputil.NewChunkedWriter(c)
	if _, err := io.Copy(cw, resp.Body); err != nil && !errors.Is(err, net.ErrClosed) {
		return
	}
	cw.Close()
}

// TestRealEngineEventWhileTheFirstSubscriptionIsSetUpIsHandedOn: dockerd
// answers GET /events before it subscribes, and the informer lists the
// containers as soon as the answer comes; a proxy makes that window as wide as
// the test needs. The informer is in sync (the list was answered) and the
// engine has not subscribed yet when a container gets an event (docker kill -s
// USR1, which its sleep ignores); then the engine subscribes, and a second
// event (USR2) comes. The first must reach the handler before the second: the
// informer subscribed from the engine's time read before it, and the engine
// replayed it. Before, the first subscription asked for no replay and the event
// was in neither the list nor the stream.
func TestRealEngineEventWhileTheFirstSubscriptionIsSetUpIsHandedOn(t *testing.T) {
	engines := testenv.Engines(t)
	url := engines["a"]
	img := testenv.Image(t)
	onSharedEngine(t, url, func(t *testing.T, s *shared) {
		name := uniqueName(t, "window")
		s.run("run", "-d", "--network", "none", "--name", name, img, "sleep", "600")
		p := newEventsHoldingProxy(t, strings.TrimPrefix(url, "tcp://"))
		// Synced: the list was answered, and the engine is not subscribed.
		_, rec := startReal(t, p.URL(), informer.Options{})
		select {
		case <-p.held:
		default:
			t.Fatal("the informer synced without asking for events")
		}

		s.run("kill", "-s", "USR1", name)
		p.Release()
		s.run("kill", "-s", "USR2", name)

		kills := func() []string {
			rec.mu.Lock()
			defer rec.mu.Unlock()
			var sig []string
			for _, ev := range rec.events {
				if ev.Action == "kill" && ev.Container != nil && ev.Container.Name == name {
					sig = append(sig, ev.Attributes["signal"])
				}
			}
			return sig
		}
		deadline := time.Now().Add(20 * time.Second)
		for got := kills(); len(got) == 0 || got[len(got)-1] != "12"; got = kills() {
			if time.Now().After(deadline) {
				s.fail("no kill (USR2) of %s handed on within 20 s; kills handed on: %q (since of the subscriptions: %q)", name, got, p.Since())
			}
			time.Sleep(10 * time.Millisecond)
		}
		got := kills()
		s.check(strings.Join(got, ",") == "10,12", "kills of %s handed on with signals %q, want 10 (in the window) then 12", name, got)
		s.check(p.Since()[0] != "", "the first subscription asked for no replay")
	})
}
