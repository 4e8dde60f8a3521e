package informer

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync/atomic"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer/eventstream"
)

// Client is the part of the Docker API an Informer uses. EngineClient
// implements it; tests may wrap it to inject faults.
type Client interface {
	Ping(ctx context.Context, opts client.PingOptions) (client.PingResult, error)
	// EventStream opens the engine's event stream; it returns once the
	// engine answered the request (the engine has subscribed), or with the
	// error that kept the stream from opening.
	EventStream(ctx context.Context, opts client.EventsListOptions) (eventstream.Stream, error)
	ContainerList(ctx context.Context, opts client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, id string, opts client.ContainerInspectOptions) (client.ContainerInspectResult, error)
}

// userAgent is the User-Agent of every request to the engines.
const userAgent = "docker-eventsd"

// EngineClient is the Client of one engine: the Docker client, with the
// event stream on a connection of its own (see eventstream.Dialer) and
// container lists that share their repeated strings. Each session
// negotiates its API version again (see Ping): an engine upgraded or
// downgraded in place is spoken to in its new version.
type EngineClient struct {
	// cur is the Docker client in use; Ping replaces it when the engine's
	// API version changed.
	cur atomic.Pointer[client.Client]
	// build makes a new Docker client for the engine, not negotiated yet.
	build func() (*client.Client, error)
	// pinned: the config fixes the API version (api_version,
	// DOCKER_API_VERSION); nothing is negotiated.
	pinned bool
	// neg guards the negotiation (see negotiation).
	neg negotiation
	// stream opens the event streams; nil when the Docker client's Events
	// must (see eventstream.NewDialer).
	stream *eventstream.Dialer
}

var _ Client = (*EngineClient)(nil)

// Transport buffers of the connections used for pings, lists and inspects
// (the event stream has its own): requests are a few hundred bytes, and
// answers are read as they come.
//
// Without TLS, these connections are not kept between requests: one kept
// idle between two heartbeats costs two goroutines (12 KiB of stack) and its
// buffers, for each engine, to save a TCP handshake every few seconds. The
// engine closes the connection after answering, so the TIME_WAIT is
// on its side. With TLS the handshake costs more than the connection: it is
// kept.
const (
	apiReadBuffer  = 1 << 10
	apiWriteBuffer = 512
)

// NewClient returns a client for one engine of the config. The client has no
// overall request timeout (it would cut the event stream); callers bound each
// call with a context instead. The API version is negotiated at each
// session's ping (see EngineClient.Ping), unless the engine fixes it
// (APIVersion).
//
// An https:// engine, and a tcp:// one with tls:, speak TLS; an ssh:// one
// runs the local ssh client for each connection (see sshDialer); http://,
// unix:// and tcp:// without tls: speak plain HTTP. NewClient fails only on
// an engine the config should not have let through (a bad URL): TLS files
// are read when a connection needs them, and until they can be read every
// connection fails, naming the file (see tlsFiles), which is an outage of
// that engine like any other.
func NewClient(e config.Engine) (*EngineClient, error) {
	if err := config.CheckEngineURL(e.URL); err != nil {
		return nil, fmt.Errorf("engine %s: %w", e.Name, err)
	}
	ec := &EngineClient{pinned: e.APIVersion != ""}
	var (
		c   *client.Client
		err error
	)
	if strings.HasPrefix(e.URL, "ssh://") {
		ec.build = func() (*client.Client, error) { return newSSHClient(e) }
		c, err = ec.build()
	} else {
		c, ec.stream, err = newHTTPClient(e, ec.ClientVersion)
		ec.build = func() (*client.Client, error) {
			c, _, err := newHTTPClient(e, ec.ClientVersion)
			return c, err
		}
	}
	if err != nil {
		return nil, fmt.Errorf("engine %s: %w", e.Name, err)
	}
	ec.cur.Store(c)
	return ec, nil
}

// newHTTPClient returns the client of a unix://, tcp://, http:// or https://
// engine, and its event stream, which asks for the API version that version
// returns.
func newHTTPClient(e config.Engine, version func() string) (*client.Client, *eventstream.Dialer, error) {
	host := e.URL
	scheme, _, _ := strings.Cut(host, "://")
	// The Docker client knows tcp:// and unix://; accept http(s):// as tcp://.
	if scheme == "http" || scheme == "https" {
		host = "tcp://" + strings.TrimPrefix(host, scheme+"://")
	}
	t := e.TLS
	if t == nil && scheme == "https" {
		// https:// means TLS, checked against the system's roots.
		t = &config.TLS{Verify: true}
	}
	// The client configures (a clone of) this transport for the host. The
	// empty TLSNextProto keeps HTTP/2 off, as the client's own transport.
	tr := &http.Transport{
		ReadBufferSize: apiReadBuffer, WriteBufferSize: apiWriteBuffer,
		TLSNextProto:      map[string]func(string, *tls.Conn) http.RoundTripper{},
		DisableKeepAlives: true,
	}
	var (
		tlsConfig *tls.Config
		files     *tlsFiles
	)
	scheme = "http"
	if t != nil {
		files = newTLSFiles(*t)
		tlsConfig = files.config()
		tr = http.DefaultTransport.(*http.Transport).Clone()
		tr.ReadBufferSize, tr.WriteBufferSize = apiReadBuffer, apiWriteBuffer
		tr.TLSClientConfig = tlsConfig
		scheme = "https"
	}
	opts := []client.Opt{client.WithScheme(scheme), client.WithHTTPClient(&http.Client{Transport: tr}),
		client.WithHost(host), client.WithUserAgent(userAgent)}
	if files != nil && strings.HasPrefix(host, "tcp://") {
		// After WithHost, which sets the dialer: no connection is tried while
		// a TLS file is missing.
		opts = append(opts, client.WithDialContext(files.dialer(&net.Dialer{Timeout: eventstream.DialTimeout})))
	}
	c, err := client.New(append(opts, apiVersion(e)...)...)
	if err != nil {
		return nil, nil, err
	}
	stream := eventstream.NewDialer(eventstream.DialerOptions{
		Host: host, TLS: tlsConfig, Proxy: http.ProxyFromEnvironment, UserAgent: userAgent, Version: version,
	})
	return c, stream, nil
}

// apiVersion returns the option that fixes the engine's API version, if it does.
func apiVersion(e config.Engine) []client.Opt {
	if e.APIVersion == "" {
		return nil
	}
	return []client.Opt{client.WithAPIVersion(e.APIVersion)}
}

// EventStream opens the engine's event stream: on a connection of its own,
// or, where that cannot be (see eventstream.NewDialer, and a since or until
// that is not a plain timestamp), through the Docker client's Events.
func (c *EngineClient) EventStream(ctx context.Context, opts client.EventsListOptions) (eventstream.Stream, error) {
	if c.stream == nil || !eventstream.PlainTimestamp(opts.Since) || !eventstream.PlainTimestamp(opts.Until) {
		return eventstream.FromChannels(ctx, c.docker().Events(ctx, opts)), nil
	}
	return c.stream.Open(ctx, opts)
}

// ContainerList lists containers as the Docker client does, and makes the
// strings that repeat from one container to the next (label keys and values,
// images, states) share their memory: the cache keeps them for as long as the
// containers live.
func (c *EngineClient) ContainerList(ctx context.Context, opts client.ContainerListOptions) (client.ContainerListResult, error) {
	res, err := c.docker().ContainerList(ctx, opts)
	if err == nil {
		shareStrings(res.Items)
	}
	return res, err
}

// shareStrings replaces equal strings of the items by one of them.
func shareStrings(items []container.Summary) {
	seen := make(map[string]string)
	in := func(s string) string {
		if t, ok := seen[s]; ok {
			return t
		}
		seen[s] = s
		return s
	}
	for i := range items {
		it := &items[i]
		it.Image = in(it.Image)
		it.State = container.ContainerState(in(string(it.State)))
		if len(it.Labels) == 0 {
			continue
		}
		// Keys cannot be replaced in place: the map is rebuilt, at its size.
		m := make(map[string]string, len(it.Labels))
		for k, v := range it.Labels {
			m[in(k)] = in(v)
		}
		it.Labels = m
	}
}
