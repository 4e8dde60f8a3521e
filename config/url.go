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
	if err := checkEngineURL(s); err != nil {
		p.errorf(v, field, "%v", err)
		return "", false
	}
	return s, true
}

// checkEngineURL checks a Docker engine URL: unix:// with a socket path,
// tcp:// with a host and a port, or http:// or https:// with a host.
func checkEngineURL(raw string) error {
	const want = "want unix://, tcp://, http:// or https://"
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
		return fmt.Errorf("%q holds a user name; engine URLs take none", raw)
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
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q has an invalid port %q", raw, port)
	}
	return nil
}

// unwrapURLError drops the "parse URL:" prefix of a *url.Error, the caller
// already quoting the URL.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return ue.Err
	}
	return err
}
