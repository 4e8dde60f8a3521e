package ha

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/samalba/docker-eventsd/config"
)

// NewClient returns an etcd client of e. It does not wait for etcd: a
// cluster out of reach is retried by every call, never an error here. The
// TLS files are read once, here, and must be readable.
func NewClient(e config.HAEtcd) (*clientv3.Client, error) {
	cfg := clientv3.Config{
		Endpoints:            e.Endpoints,
		DialTimeout:          0, // do not block: the Elector retries
		DialKeepAliveTime:    time.Second,
		DialKeepAliveTimeout: time.Second,
		AutoSyncInterval:     0,
		Logger:               zap.NewNop(),
	}
	if e.TLS != nil {
		tc, err := tlsConfig(e.TLS)
		if err != nil {
			return nil, fmt.Errorf("ha: etcd tls: %w", err)
		}
		cfg.TLS = tc
	}
	cli, err := clientv3.New(cfg)
	if err != nil {
		return nil, fmt.Errorf("ha: etcd client: %w", err)
	}
	return cli, nil
}

// tlsConfig returns the client TLS of t, as for an engine: its CA (else the
// system's roots), its client certificate, and verify.
func tlsConfig(t *config.TLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !t.Verify} //nolint:gosec // verify: false asks for it
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("ca %s: %w", t.CA, err)
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("ca %s: no PEM certificate in the file", t.CA)
		}
	}
	if t.Cert != "" {
		pair, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("cert %s, key %s: %w", t.Cert, t.Key, err)
		}
		tc.Certificates = []tls.Certificate{pair}
	}
	return tc, nil
}
