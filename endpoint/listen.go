package endpoint

import (
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"strings"
)

// DefaultAddr is the endpoint's default address: loopback only, on a port
// that is not Docker's own metrics port (dockerd's metrics-addr is usually
// 127.0.0.1:9323), nor Prometheus's (9090) or node_exporter's (9100).
const DefaultAddr = "127.0.0.1:9324"

// Off is the address that disables the endpoint.
const Off = "off"

// unixPrefix starts the address of a Unix socket.
const unixPrefix = "unix://"

// Addr is a parsed --listen address.
type Addr struct {
	// Network is "tcp" or "unix"; "" when the endpoint is off.
	Network string
	// Address is host:port, or the socket's path.
	Address string
}

// ParseAddr parses a --listen address: host:port, unix:///path, or off.
func ParseAddr(s string) (Addr, error) {
	switch {
	case s == Off:
		return Addr{}, nil
	case strings.HasPrefix(s, unixPrefix):
		p := strings.TrimPrefix(s, unixPrefix)
		if !strings.HasPrefix(p, "/") {
			return Addr{}, fmt.Errorf("--listen %q: a socket's path must be absolute (unix:///path)", s)
		}
		return Addr{Network: "unix", Address: p}, nil
	}
	if _, _, err := net.SplitHostPort(s); err != nil {
		return Addr{}, fmt.Errorf("--listen %q: want host:port, unix:///path or off: %w", s, err)
	}
	return Addr{Network: "tcp", Address: s}, nil
}

// Off reports whether the endpoint is disabled.
func (a Addr) Off() bool { return a.Network == "" }

// String returns the address as --listen takes it.
func (a Addr) String() string {
	switch a.Network {
	case "":
		return Off
	case "unix":
		return unixPrefix + a.Address
	}
	return a.Address
}

// listen listens on a. A socket file left by an earlier run is removed
// first; any other file in the way is an error.
func (a Addr) listen() (net.Listener, error) {
	if a.Network == "unix" {
		if fi, err := os.Lstat(a.Address); err == nil {
			if fi.Mode().Type() != fs.ModeSocket {
				return nil, fmt.Errorf("listen %s: not a socket, not removed", a)
			}
			if err := os.Remove(a.Address); err != nil {
				return nil, fmt.Errorf("listen %s: remove the old socket: %w", a, err)
			}
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("listen %s: %w", a, err)
		}
	}
	l, err := net.Listen(a.Network, a.Address)
	if err != nil {
		return nil, fmt.Errorf("listen %s: %w", a, err)
	}
	return l, nil
}
