package monitor

import (
	"context"
	"errors"
	"net"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"

	"github.com/samalba/docker-eventsd/informer"
)

// Labels a container may carry to say how its monitors reach it.
const (
	// LabelAddress names the container's address (a host or an IP) and
	// wins over everything else: the container's ports are reached there,
	// unmapped.
	LabelAddress = "eventsd.address"
	// LabelNetwork names the network whose IP is the container's address,
	// when it has several.
	LabelNetwork = "eventsd.network"
)

// Network is what a container's address is found from: what one inspect of
// the container tells (NetworkFromInspect).
type Network struct {
	// HostMode is true for --network host: the container's ports are the
	// engine host's.
	HostMode bool
	// IPs are the container's IPs by network name.
	IPs map[string]string
	// Published maps a container's tcp port to where the engine's host
	// publishes it: the host IP ("" for every address of the host) and port.
	Published map[int]Binding
}

// Binding is one published port on the engine's host.
type Binding struct {
	HostIP   string
	HostPort int
}

// Inspector tells the network of a container: the daemon inspects it with
// its engine's client, once per target start.
type Inspector interface {
	Network(ctx context.Context, engine, containerID string) (Network, error)
}

// InspectorFunc is an Inspector that is a function.
type InspectorFunc func(ctx context.Context, engine, containerID string) (Network, error)

// Network calls f.
func (f InspectorFunc) Network(ctx context.Context, engine, id string) (Network, error) {
	return f(ctx, engine, id)
}

// NetworkFromInspect returns the Network of an inspect's answer.
func NetworkFromInspect(r *container.InspectResponse) Network {
	n := Network{IPs: map[string]string{}, Published: map[int]Binding{}}
	if r.HostConfig != nil && r.HostConfig.NetworkMode == "host" {
		n.HostMode = true
	}
	if s := r.NetworkSettings; s != nil {
		for name, ep := range s.Networks {
			if ep != nil && ep.IPAddress.IsValid() {
				n.IPs[name] = ep.IPAddress.String()
			}
		}
		for port, bindings := range s.Ports {
			if port.Proto() != "tcp" {
				continue
			}
			for _, b := range bindings {
				hp, err := strconv.Atoi(b.HostPort)
				if err != nil || hp == 0 {
					continue
				}
				ip := ""
				if b.HostIP.IsValid() && !b.HostIP.IsUnspecified() {
					ip = b.HostIP.String()
				}
				if _, seen := n.Published[int(port.Num())]; !seen || ip == "" {
					n.Published[int(port.Num())] = Binding{HostIP: ip, HostPort: hp}
				}
			}
		}
	}
	return n
}

// Engine is what the Scheduler needs of one engine: its name, its URL (for
// its host) and its cache.
type Engine struct {
	Name  string
	URL   string
	Cache Cache
}

var _ Cache = (*informer.Cache)(nil)

// Cache is an engine's container cache; *informer.Cache is the real one.
type Cache interface {
	List() []*informer.Container
	Get(id string) *informer.Container
}

// engineHost returns the host of an engine URL and whether the engine is
// on this host: unix:// (and npipe) is 127.0.0.1 here, tcp://, http(s)://
// and ssh:// are their host, local when it is a loopback address or
// localhost.
func engineHost(raw string) (host string, local bool) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme == "unix" || u.Scheme == "npipe" || u.Host == "" {
		return "127.0.0.1", true
	}
	host = u.Hostname()
	if host == "localhost" {
		return "127.0.0.1", true
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return host, true
	}
	return host, false
}

// errNoAddress is the failure of a check of a container whose address is
// not known.
var errNoAddress = errors.New("no address: the container has no IP, publishes no port and has no eventsd.address label")

// endpoint is where a target is reached: Address (a host) and the port
// each of its ports is reached at.
type endpoint struct {
	host string
	// ports maps a container port to the port it is reached at; nil maps
	// each port to itself.
	ports map[int]int
}

// port returns the port to reach the target's port p at.
func (e endpoint) port(p int) int {
	if q, ok := e.ports[p]; ok {
		return q
	}
	return p
}

// dial returns host:port for the target's port p.
func (e endpoint) dial(p int) string {
	return net.JoinHostPort(e.host, strconv.Itoa(e.port(p)))
}

// resolve finds how container c of an engine at engineURL is reached, in
// this order:
//  1. the label eventsd.address: that host, ports unmapped;
//  2. --network host: the engine's host, ports unmapped;
//  3. an engine on another host whose container publishes ports: the
//     engine's host (or the binding's own IP), each published port mapped
//     to its host port (the daemon cannot reach a remote bridge network);
//  4. the container's IP: on the network the label eventsd.network names,
//     else on the first of its networks by name;
//  5. on an engine of this host, its published ports on 127.0.0.1;
//
// and otherwise errNoAddress.
func resolve(c *informer.Container, engineURL string, n Network) (endpoint, error) {
	if a := strings.TrimSpace(c.Labels[LabelAddress]); a != "" {
		return endpoint{host: a}, nil
	}
	host, local := engineHost(engineURL)
	if n.HostMode {
		return endpoint{host: host}, nil
	}
	published := func(h string) endpoint {
		e := endpoint{host: h, ports: map[int]int{}}
		for p, b := range n.Published {
			e.ports[p] = b.HostPort
			if b.HostIP != "" && !local {
				e.host = b.HostIP
			}
		}
		return e
	}
	if !local && len(n.Published) > 0 {
		return published(host), nil
	}
	if want := c.Labels[LabelNetwork]; want != "" {
		if ip := n.IPs[want]; ip != "" {
			return endpoint{host: ip}, nil
		}
	}
	names := make([]string, 0, len(n.IPs))
	for name := range n.IPs {
		names = append(names, name)
	}
	slices.Sort(names)
	for _, name := range names {
		if ip := n.IPs[name]; ip != "" {
			return endpoint{host: ip}, nil
		}
	}
	if len(n.Published) > 0 {
		return published(host), nil
	}
	return endpoint{}, errNoAddress
}

// fixedEndpoint is the endpoint of a fixed address: a host, or host:port
// (that port whatever the monitor's port is).
func fixedEndpoint(addr string) (e endpoint, fixedPort int) {
	if h, p, err := net.SplitHostPort(addr); err == nil {
		if n, err := strconv.Atoi(p); err == nil {
			return endpoint{host: h}, n
		}
	}
	return endpoint{host: strings.Trim(addr, "[]")}, 0
}
