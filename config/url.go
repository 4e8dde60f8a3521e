package config

import (
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"
)

// url returns the ${VAR}-expanded and checked engine URL in n.
func (p *parser) url(n *yaml.Node, field string) (string, bool) {
	s, v, ok := p.str(n, field)
	if !ok {
		return "", false
	}
	if v == nil {
		p.errorf(n, field, "expected a URL such as tcp://127.0.0.1:2375, got null")
		return "", false
	}
	s, ok = p.expandAt(s, v, field)
	if !ok {
		return "", false
	}
	if err := CheckEngineURL(s); err != nil {
		p.errorf(v, field, "%v", err)
		return "", false
	}
	return s, true
}

// CheckEngineURL checks a Docker engine URL: unix:// with a socket path,
// tcp:// with a host and a port, http:// or https:// with a host, or
// ssh://[user@]host[:port][/socket path] (see SSHSpec).
func CheckEngineURL(raw string) error {
	const want = "want unix://, tcp://, http://, https:// or ssh://"
	if raw == "" {
		return fmt.Errorf("empty URL; %s", want)
	}
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		return fmt.Errorf("%q has no scheme; %s", raw, want)
	}
	switch scheme {
	case "unix":
		if rest == "" {
			return fmt.Errorf("%q has no socket path, as in unix:///var/run/docker.sock", raw)
		}
		return nil
	case "ssh":
		_, err := ParseSSH(raw)
		return err
	case "tcp", "http", "https":
	default:
		return fmt.Errorf("unsupported scheme %q in %q; %s", scheme, raw, want)
	}
	u, err := url.Parse(raw)
	if err != nil {
		return fmt.Errorf("invalid URL %q: %w", raw, unwrapURLError(err))
	}
	switch {
	case u.User != nil:
		return fmt.Errorf("%q holds a user name; only ssh:// engine URLs take one", raw)
	case u.RawQuery != "" || u.ForceQuery:
		return fmt.Errorf("%q holds a query; engine URLs take none", raw)
	case u.Fragment != "":
		return fmt.Errorf("%q holds a fragment; engine URLs take none", raw)
	case u.Hostname() == "":
		return fmt.Errorf("%q has no host, as in %s://127.0.0.1:2375", raw, scheme)
	}
	port := u.Port()
	if port == "" {
		if scheme == "tcp" {
			return fmt.Errorf("%q has no port, as in tcp://%s:2375", raw, u.Host)
		}
		if _, _, err := net.SplitHostPort(u.Host); err == nil {
			return fmt.Errorf("%q has an empty port", raw)
		}
		return nil
	}
	return checkPort(raw, port)
}

// checkPort checks the port of the URL raw.
func checkPort(raw, port string) error {
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q has an invalid port %q", raw, port)
	}
	return nil
}

// SSHSpec is an ssh:// engine URL taken apart, as the Docker CLI takes it:
// ssh://[user@]host[:port][/path], where path, when set, is the socket of
// the engine on the remote host (the remote docker CLI's default otherwise).
type SSHSpec struct {
	// User is the remote user; "" leaves it to ssh (its config, or the local user).
	User string
	// Host is the remote host, without brackets for IPv6.
	Host string
	// Port is the ssh port; "" leaves it to ssh (its config, or 22).
	Port string
	// Socket is the engine's socket path on the remote host, "" for the
	// remote docker CLI's default.
	Socket string
}

// ParseSSH parses an ssh:// engine URL. A password, a query or a fragment is
// an error, as is an empty host.
func ParseSSH(raw string) (SSHSpec, error) {
	u, err := url.Parse(raw)
	if err != nil {
		return SSHSpec{}, fmt.Errorf("invalid URL %q: %w", raw, unwrapURLError(err))
	}
	var sp SSHSpec
	switch {
	case u.Scheme != "ssh":
		return sp, fmt.Errorf("%q is not an ssh:// URL", raw)
	case u.Opaque != "":
		return sp, fmt.Errorf("%q has no host, as in ssh://user@host", raw)
	case u.RawQuery != "" || u.ForceQuery:
		return sp, fmt.Errorf("%q holds a query; engine URLs take none", raw)
	case u.Fragment != "":
		return sp, fmt.Errorf("%q holds a fragment; engine URLs take none", raw)
	}
	if u.User != nil {
		if _, set := u.User.Password(); set {
			return sp, fmt.Errorf("%q holds a password; ssh:// takes a user name only (use a key)", raw)
		}
		sp.User = u.User.Username()
		if sp.User == "" {
			return sp, fmt.Errorf("%q has an empty user name", raw)
		}
		if strings.HasPrefix(sp.User, "-") {
			return sp, fmt.Errorf("%q has a user name starting with '-'", raw)
		}
	}
	sp.Host = u.Hostname()
	if sp.Host == "" {
		return sp, fmt.Errorf("%q has no host, as in ssh://user@host", raw)
	}
	if strings.HasPrefix(sp.Host, "-") {
		return sp, fmt.Errorf("%q has a host name starting with '-'", raw)
	}
	sp.Port = u.Port()
	if sp.Port == "" {
		if _, _, err := net.SplitHostPort(u.Host); err == nil {
			return sp, fmt.Errorf("%q has an empty port", raw)
		}
	} else if err := checkPort(raw, sp.Port); err != nil {
		return sp, err
	}
	if strings.Trim(u.Path, "/") != "" {
		sp.Socket = u.Path
	}
	return sp, nil
}

// unwrapURLError drops the "parse URL:" prefix of a *url.Error, the caller
// already quoting the URL.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
