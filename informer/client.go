package informer

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/http"
	"os"
	"strings"

	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/config"
)

// Client is the part of the Docker API an Informer uses. *client.Client implements it;
// tests may wrap it to inject faults.
type Client interface {
	Ping(ctx context.Context, opts client.PingOptions) (client.PingResult, error)
	Events(ctx context.Context, opts client.EventsListOptions) client.EventsResult
	ContainerList(ctx context.Context, opts client.ContainerListOptions) (client.ContainerListResult, error)
	ContainerInspect(ctx context.Context, id string, opts client.ContainerInspectOptions) (client.ContainerInspectResult, error)
}

// NewClient returns a Docker client for one engine of the config. The client has no
// overall request timeout (it would cut the event stream); callers bound each call
// with a context instead. The API version is negotiated on the first request.
func NewClient(e config.Engine) (*client.Client, error) {
	host := e.URL
	// The Docker client knows tcp:// and unix://; accept http(s):// as tcp://.
	for _, p := range []string{"http://", "https://"} {
		if strings.HasPrefix(host, p) {
			host = "tcp://" + strings.TrimPrefix(host, p)
		}
	}
	opts := []client.Opt{}
	if e.TLS != nil {
		tlsConfig, err := clientTLS(e.TLS)
		if err != nil {
			return nil, fmt.Errorf("engine %s: %w", e.Name, err)
		}
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = tlsConfig
		opts = append(opts, client.WithHTTPClient(&http.Client{Transport: tr}), client.WithScheme("https"))
	}
	opts = append(opts, client.WithHost(host), client.WithUserAgent("docker-eventsd"))
	c, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("engine %s: %w", e.Name, err)
	}
	return c, nil
}

// clientTLS builds the TLS configuration of an engine from its files.
func clientTLS(t *config.TLS) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !t.Verify} //nolint:gosec // verify: false is the user's explicit choice
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls ca %s: no certificate found", t.CA)
		}
		cfg.RootCAs = pool
	}
	if t.Cert != "" || t.Key != "" {
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("tls cert/key: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
