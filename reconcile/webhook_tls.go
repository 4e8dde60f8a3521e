package reconcile

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net/http"
	"os"
	"time"
)

// transportEntry is the transport of one TLS setting, with the state of
// its files when it was built.
type transportEntry struct {
	stamp [3]fileStamp
	tr    *http.Transport
}

// fileStamp is what tells that a file changed: its size and mtime.
type fileStamp struct {
	size int64
	mod  time.Time
}

// transport returns the transport for t (nil: plain), building it again
// when one of its files changed since, so a renewed certificate is used
// without a restart. A file that cannot be read is an error of this
// request only: the next one reads it again.
func (c *WebhookClient) transport(t *WebhookTLS) (*http.Transport, error) {
	if t == nil {
		return c.plain, nil
	}
	var stamp [3]fileStamp
	for i, path := range []string{t.CA, t.Cert, t.Key} {
		if path == "" {
			continue
		}
		fi, err := os.Stat(path)
		if err != nil {
			return nil, fmt.Errorf("webhook TLS: %w", err)
		}
		stamp[i] = fileStamp{size: fi.Size(), mod: fi.ModTime()}
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if e := c.transports[*t]; e != nil && e.stamp == stamp {
		return e.tr, nil
	}
	cfg, err := tlsConfig(t)
	if err != nil {
		return nil, err
	}
	if old := c.transports[*t]; old != nil {
		old.tr.CloseIdleConnections()
	}
	e := &transportEntry{stamp: stamp, tr: newTransport(cfg)}
	c.transports[*t] = e
	return e.tr, nil
}

// newTransport returns a transport as http.DefaultTransport's (proxy from
// the environment, dial and handshake timeouts, HTTP/2), with cfg.
func newTransport(cfg *tls.Config) *http.Transport {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	if cfg != nil {
		tr.TLSClientConfig = cfg
	}
	return tr
}

// tlsConfig reads the files of t into a TLS client config.
func tlsConfig(t *WebhookTLS) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !t.Verify} //nolint:gosec // verify: false is the user's choice
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("webhook TLS CA: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("webhook TLS CA: %q holds no PEM certificate", t.CA)
		}
		cfg.RootCAs = pool
	}
	if t.Cert != "" || t.Key != "" {
		if t.Cert == "" || t.Key == "" {
			return nil, errors.New("webhook TLS: cert and key go together")
		}
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("webhook TLS client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
