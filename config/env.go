package config

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// The Docker CLI's environment, as FromEnv reads it.
const (
	// EnvDockerHost is the engine's URL.
	EnvDockerHost = "DOCKER_HOST"
	// EnvTLSVerify, when not empty (whatever its value, "0" included), turns
	// TLS on and verifies the engine's certificate.
	EnvTLSVerify = "DOCKER_TLS_VERIFY"
	// EnvTLS, when not empty, turns TLS on, without verification unless
	// EnvTLSVerify is set too.
	EnvTLS = "DOCKER_TLS"
	// EnvCertPath is the directory of ca.pem, cert.pem and key.pem
	// (default: $DOCKER_CONFIG, else ~/.docker).
	EnvCertPath = "DOCKER_CERT_PATH"
	// EnvConfigDir is the Docker CLI's configuration directory (default ~/.docker).
	EnvConfigDir = "DOCKER_CONFIG"
	// EnvAPIVersion, when not empty, is the API version to speak instead of
	// negotiating one.
	EnvAPIVersion = "DOCKER_API_VERSION"
)

// Defaults of the Docker CLI for a DOCKER_HOST that leaves them out.
const (
	// defaultTLSHost is the engine of the CLI when TLS is on and DOCKER_HOST is empty.
	defaultTLSHost = "tcp://localhost:2376"
	// defaultTCPPort is the port of a tcp:// DOCKER_HOST without one, TLS or not.
	defaultTCPPort = "2375"
	// defaultTCPHost is the host of a tcp:// DOCKER_HOST without one.
	defaultTCPHost = "localhost"
)

// FromEnv returns the config used when there is no file: one engine named
// "local" and no rules, the engine described by the variables the Docker
// CLI reads, with the CLI's rules:
//
//   - DOCKER_HOST is the URL; empty or unset, unix:///var/run/docker.sock,
//     or tcp://localhost:2376 when TLS is on. Without a scheme, a value
//     starting with / or ./ is a unix socket, anything else a tcp:// address;
//     a tcp:// address without a host or a port gets localhost and 2375.
//   - TLS is on when DOCKER_TLS_VERIFY or DOCKER_TLS is not empty (any value,
//     even 0). The engine's certificate is verified only with
//     DOCKER_TLS_VERIFY. The files are in DOCKER_CERT_PATH (default
//     $DOCKER_CONFIG, else ~/.docker): ca.pem is required, cert.pem and
//     key.pem are used when they exist (now). TLS applies to tcp:// only:
//     ssh:// has its own encryption and unix:// none to add.
//   - DOCKER_API_VERSION, when not empty, fixes the API version.
//
// The config is returned even with an error, which says which variable is
// wrong: an engine URL the daemon does not take, or an API version that is
// not MAJOR.MINOR.
func (l Loader) FromEnv() (*Config, error) {
	env := func(k string) string {
		v, _ := l.lookupEnv()(k)
		return v
	}
	verify := env(EnvTLSVerify) != ""
	tlsOn := verify || env(EnvTLS) != ""
	e := Engine{Name: DefaultEngineName}
	raw := strings.TrimSpace(env(EnvDockerHost))
	switch {
	case raw != "":
		e.URL = cliHost(raw)
	case tlsOn:
		e.URL = defaultTLSHost
	default:
		e.URL = DefaultDockerHost
	}
	cfg := &Config{Engines: []Engine{e}}
	if err := CheckEngineURL(e.URL); err != nil {
		return cfg, fmt.Errorf("$%s: %w", EnvDockerHost, err)
	}
	if tlsOn && strings.HasPrefix(e.URL, "tcp://") {
		dir := env(EnvCertPath)
		if dir == "" {
			dir = env(EnvConfigDir)
		}
		if dir == "" {
			dir = filepath.Join(env("HOME"), ".docker")
		}
		t := &TLS{CA: filepath.Join(dir, "ca.pem"), Verify: verify}
		// As the CLI: the client certificate and key are each left out
		// when their file does not exist.
		if f := filepath.Join(dir, "cert.pem"); exists(f) {
			t.Cert = f
		}
		if f := filepath.Join(dir, "key.pem"); exists(f) {
			t.Key = f
		}
		cfg.Engines[0].TLS = t
	}
	if v := strings.TrimSpace(env(EnvAPIVersion)); v != "" {
		cfg.Engines[0].APIVersion = v
		if !validAPIVersion(strings.TrimPrefix(v, "v")) {
			return cfg, fmt.Errorf("$%s: %q is not an API version such as 1.41", EnvAPIVersion, v)
		}
	}
	return cfg, nil
}

// cliHost completes a DOCKER_HOST value as the Docker CLI does; a value it
// cannot complete is returned as it is, for CheckEngineURL to report.
func cliHost(raw string) string {
	scheme, rest, ok := strings.Cut(raw, "://")
	if !ok {
		if strings.HasPrefix(raw, "/") || strings.HasPrefix(raw, "./") {
			return "unix://" + raw
		}
		scheme, rest = "tcp", raw
	}
	switch scheme {
	case "unix":
		if rest == "" {
			return DefaultDockerHost
		}
		return raw
	case "tcp":
		return cliTCPHost(raw, rest)
	}
	return raw
}

// cliTCPHost completes the address of a tcp:// DOCKER_HOST (rest, after the
// scheme) with the CLI's default host and port.
func cliTCPHost(raw, rest string) string {
	if rest == "" {
		return "tcp://" + net.JoinHostPort(defaultTCPHost, defaultTCPPort)
	}
	addr, path, _ := strings.Cut(rest, "/")
	if path != "" || strings.HasSuffix(rest, "/") {
		path = "/" + path
	}
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		// No port (a bare IPv6 address must be in brackets).
		host, port = strings.TrimSuffix(strings.TrimPrefix(addr, "["), "]"), ""
		if strings.Contains(host, "[") || strings.Contains(host, "]") {
			return raw
		}
	}
	if host == "" {
		host = defaultTCPHost
	}
	if port == "" {
		port = defaultTCPPort
	}
	return "tcp://" + net.JoinHostPort(host, port) + path
}

// validAPIVersion reports whether v is MAJOR.MINOR, both numbers.
func validAPIVersion(v string) bool {
	major, minor, ok := strings.Cut(v, ".")
	if !ok {
		return false
	}
	_, err1 := strconv.ParseUint(major, 10, 32)
	_, err2 := strconv.ParseUint(minor, 10, 32)
	return err1 == nil && err2 == nil
}

// exists reports whether there is a file at path.
func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
