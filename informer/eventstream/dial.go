package eventstream

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// Dialer opens the event streams of one engine, each on a connection of its
// own. Create it with NewDialer.
type Dialer struct {
	// network and addr are where to dial ("tcp", "host:port"; "unix", path).
	network, addr string
	// host is the Host header; basePath prefixes the API path (tcp://h/p).
	host, basePath string
	tls            *tls.Config // nil: plain
	userAgent      string
	// version returns the API version to ask for ("" for none): the Docker
	// client's, negotiated on its first request.
	version func() string
}

// DialerOptions say where an engine is and how to talk to it.
type DialerOptions struct {
	// Host is a Docker host URL: tcp://1.2.3.4:2375, unix:///var/run/docker.sock.
	Host string
	// TLS, when not nil, secures a tcp:// connection; ServerName defaults to
	// the host's name.
	TLS *tls.Config
	// Proxy says which HTTP proxy the Docker client would use for the engine
	// (usually http.ProxyFromEnvironment); nil: none.
	Proxy func(*http.Request) (*url.URL, error)
	// UserAgent is the User-Agent header of the request.
	UserAgent string
	// Version returns the API version to ask for; nil or "": the engine's
	// own (no /vX.Y prefix).
	Version func() string
}

// DialTimeout bounds a connection attempt, as the Docker client's does.
const DialTimeout = 10 * time.Second

// headerBuffer is the read buffer of a response's header; what it read past
// the header is handed on.
const headerBuffer = 512

// NewDialer returns a Dialer for the engine, or nil when the Docker client's
// own Events must be used: a protocol other than tcp and unix, TLS over a
// unix socket, or an HTTP proxy for the engine, which the client honours and
// a direct connection would not.
func NewDialer(o DialerOptions) *Dialer {
	u, err := client.ParseHostURL(o.Host)
	if err != nil {
		return nil
	}
	d := &Dialer{network: u.Scheme, addr: u.Host, host: u.Host, basePath: u.Path, tls: o.TLS, userAgent: o.UserAgent, version: o.Version}
	switch u.Scheme {
	case "unix":
		d.host = client.DummyHost
		if o.TLS != nil {
			return nil
		}
	case "tcp":
		scheme := "http"
		if o.TLS != nil {
			scheme = "https"
		}
		if o.Proxy != nil {
			probe := &http.Request{URL: &url.URL{Scheme: scheme, Host: u.Host, Path: "/"}}
			if p, err := o.Proxy(probe); err != nil || p != nil {
				return nil
			}
		}
		if o.TLS != nil && o.TLS.ServerName == "" {
			c := o.TLS.Clone()
			if h, _, err := net.SplitHostPort(u.Host); err == nil {
				c.ServerName = h
			}
			d.tls = c
		}
	default:
		return nil
	}
	return d
}

// PlainTimestamp reports whether s is empty or seconds[.nanoseconds], the
// form the engine takes as it is. The Docker client converts other forms (a
// duration, an RFC 3339 time); a Dialer does not: give those to the client.
func PlainTimestamp(s string) bool {
	sec, frac, dot := bytes.Cut([]byte(s), []byte("."))
	if !digits(sec) && s != "" {
		return false
	}
	return !dot || (digits(frac) && len(frac) <= 9)
}

func digits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// query returns the query of an events request.
func query(opts client.EventsListOptions) (url.Values, error) {
	q := url.Values{}
	if opts.Since != "" {
		q.Set("since", opts.Since)
	}
	if opts.Until != "" {
		q.Set("until", opts.Until)
	}
	if len(opts.Filters) > 0 {
		b, err := json.Marshal(opts.Filters)
		if err != nil {
			return nil, fmt.Errorf("events filters: %w", err)
		}
		q.Set("filters", string(b))
	}
	return q, nil
}

// Open connects, sends the request and reads the answer's header: it returns
// once the engine answered (dockerd answers as it subscribes). Since and
// Until must be PlainTimestamps. The connection is closed when ctx ends,
// which ends a dial, a read or a Next in flight; Close closes it sooner.
func (d *Dialer) Open(ctx context.Context, opts client.EventsListOptions) (Stream, error) {
	q, err := query(opts)
	if err != nil {
		return nil, err
	}
	p := "/events"
	if d.version != nil {
		if v := d.version(); v != "" {
			p = "/v" + v + p
		}
	}
	reqURL := &url.URL{Scheme: "http", Host: d.host, Path: path.Join("/", d.basePath, p), RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reqURL.String(), nil)
	if err != nil {
		return nil, fmt.Errorf("events request: %w", err)
	}
	req.Host = d.host
	req.Header.Set("User-Agent", d.userAgent)
	req.Header.Set("Accept", "application/json")

	nd := net.Dialer{Timeout: DialTimeout}
	raw, err := nd.DialContext(ctx, d.network, d.addr)
	if err != nil {
		return nil, fmt.Errorf("events: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	closeConn := func() error {
		stop()
		return raw.Close()
	}
	conn := raw
	if d.tls != nil {
		tc := tls.Client(conn, d.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			_ = closeConn()
			return nil, fmt.Errorf("events: %w", err)
		}
		conn = tc
	}
	fail := func(err error) (Stream, error) {
		_ = closeConn()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, fmt.Errorf("events: %w", err)
	}
	if err := req.Write(conn); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(conn, headerBuffer)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(err)
	}
	if resp.StatusCode < http.StatusOK || resp.StatusCode >= http.StatusBadRequest {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct{ Message string }
		if json.Unmarshal(msg, &e) == nil && e.Message != "" {
			msg = []byte(e.Message)
		}
		return fail(fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg)))
	}
	body, err := newBody(conn, br, resp)
	if err != nil {
		return fail(err)
	}
	return &connStream{ctx: ctx, dec: NewDecoder(body), close: closeConn}, nil
}

// connStream is a Stream on a connection of its own.
type connStream struct {
	ctx   context.Context
	dec   *Decoder
	close func() error
}

func (s *connStream) Next(m *events.Message) error {
	err := s.dec.Decode(m)
	if err != nil && s.ctx.Err() != nil {
		return s.ctx.Err()
	}
	return err
}

func (s *connStream) Close() error { return s.close() }
