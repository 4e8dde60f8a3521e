package informer

import (
	"context"
	"fmt"
	"sync"

	"github.com/moby/moby/client"
)

// The Docker client negotiates its API version once, on its first request,
// and afterwards only ever lowers it (it negotiates down from the version it
// has): a daemon that first met a dockerd 20.10 (API 1.41) would keep asking
// for /v1.41/ after that engine was upgraded in place to Docker 29, which
// refuses every version below 1.44 ("client version 1.41 is too old"), and
// the engine would stay down for good. So each session negotiates again (the
// session's ping asks for it with ForceNegotiate): when the engine reports
// another API version than the one the client was negotiated from, a new
// Docker client negotiates from scratch and replaces the old one. An engine
// whose version did not change costs nothing more than its ping.

// negotiation is what the EngineClient negotiated from.
type negotiation struct {
	// mu serializes negotiations (one session at a time does one anyway).
	mu sync.Mutex
	// done: the current client has negotiated, from the engine's version
	// from ("" when the engine sent none).
	done bool
	from string
}

// docker returns the Docker client in use.
func (c *EngineClient) docker() *client.Client { return c.cur.Load() }

// Ping pings the engine. With NegotiateAPIVersion and ForceNegotiate (once
// per session), it also negotiates the API version again when the engine's
// changed since the last negotiation, which the Docker client alone never
// raises (see above). A version fixed by the config is never negotiated,
// even then.
func (c *EngineClient) Ping(ctx context.Context, opts client.PingOptions) (client.PingResult, error) {
	if !opts.NegotiateAPIVersion || c.pinned {
		return c.docker().Ping(ctx, client.PingOptions{})
	}
	n := &c.neg
	n.mu.Lock()
	defer n.mu.Unlock()
	cur := c.docker()
	if !n.done {
		pong, err := cur.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
		if err == nil {
			n.done, n.from = true, pong.APIVersion
		}
		return pong, err
	}
	pong, err := cur.Ping(ctx, client.PingOptions{})
	if err != nil || !opts.ForceNegotiate || pong.APIVersion == n.from {
		return pong, err
	}
	fresh, err := c.build()
	if err != nil {
		return pong, fmt.Errorf("negotiate the API version again: %w", err)
	}
	pong, err = fresh.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true})
	if err != nil {
		_ = fresh.Close()
		return pong, err
	}
	c.cur.Store(fresh)
	n.from = pong.APIVersion
	// Nothing else of this informer uses the client between two sessions;
	// Close only closes idle connections.
	_ = cur.Close()
	return pong, nil
}

// ClientVersion returns the API version the client speaks: the one
// negotiated, or fixed by the config.
func (c *EngineClient) ClientVersion() string { return c.docker().ClientVersion() }

// ContainerInspect inspects a container.
func (c *EngineClient) ContainerInspect(ctx context.Context, id string, opts client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	return c.docker().ContainerInspect(ctx, id, opts)
}

// Info returns the engine's /info: EngineClock.
func (c *EngineClient) Info(ctx context.Context, opts client.InfoOptions) (client.SystemInfoResult, error) {
	return c.docker().Info(ctx, opts)
}

// Close closes the client's idle connections.
func (c *EngineClient) Close() error { return c.docker().Close() }
