package main

import (
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// proxy is an HTTP proxy in front of an engine that notes when the engine
// first answers a ping after a mark (P5: "first answered ping"), and can
// blackhole: connections are accepted and never answered, open streams go
// silent.
type proxy struct {
	ln  net.Listener
	srv *http.Server
	rp  *httputil.ReverseProxy

	mu        sync.Mutex
	mark      time.Time
	firstPing time.Time

	hole atomic.Pointer[chan struct{}]
}

// newProxy proxies to target (tcp://host:port).
func newProxy(target string) (*proxy, error) {
	u, err := url.Parse("http://" + strings.TrimPrefix(target, "tcp://"))
	if err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	p := &proxy{ln: ln}
	p.rp = &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(u) },
		FlushInterval: -1,
		ModifyResponse: func(resp *http.Response) error {
			if strings.HasSuffix(resp.Request.URL.Path, "/_ping") && resp.StatusCode == http.StatusOK {
				p.mu.Lock()
				if !p.mark.IsZero() && p.firstPing.IsZero() {
					p.firstPing = time.Now()
				}
				p.mu.Unlock()
			}
			resp.Body = &holeReader{p: p, r: resp.Body}
			return nil
		},
		ErrorLog: log.New(io.Discard, "", 0),
		ErrorHandler: func(w http.ResponseWriter, _ *http.Request, err error) {
			http.Error(w, err.Error(), http.StatusBadGateway)
		},
	}
	p.srv = &http.Server{Handler: p, ReadHeaderTimeout: time.Minute}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL is the proxy's address as a Docker host.
func (p *proxy) URL() string { return "tcp://" + p.ln.Addr().String() }

func (p *proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h := p.hole.Load(); h != nil {
		select {
		case <-*h:
		case <-r.Context().Done():
		}
		http.Error(w, "blackholed", http.StatusBadGateway)
		return
	}
	p.rp.ServeHTTP(w, r)
}

// markRestart starts watching for the first answered ping.
func (p *proxy) markRestart() {
	p.mu.Lock()
	p.mark, p.firstPing = time.Now(), time.Time{}
	p.mu.Unlock()
}

// firstPingAfterMark returns when the engine first answered a ping after the
// mark (zero: not yet).
func (p *proxy) firstPingAfterMark() time.Time {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.firstPing
}

// blackhole turns the blackhole on or off.
func (p *proxy) blackhole(on bool) {
	if on {
		ch := make(chan struct{})
		p.hole.CompareAndSwap(nil, &ch)
		return
	}
	if h := p.hole.Swap(nil); h != nil {
		close(*h)
	}
}

func (p *proxy) Close() {
	p.blackhole(false)
	_ = p.srv.Close()
}

// holeReader holds a response body's bytes while the proxy blackholes.
type holeReader struct {
	p *proxy
	r io.ReadCloser
}

func (h *holeReader) Read(b []byte) (int, error) {
	n, err := h.r.Read(b)
	for {
		hole := h.p.hole.Load()
		if hole == nil {
			return n, err
		}
		<-*hole
	}
}

func (h *holeReader) Close() error { return h.r.Close() }
