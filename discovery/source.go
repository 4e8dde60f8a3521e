package discovery

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/cenkalti/backoff/v5"
	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/config"
)

// Source is one source of engines.
type Source interface {
	// Kind is the source's kind: config.DiscoveryFile, DiscoveryEtcd,
	// DiscoveryRedis or DiscoveryDNS.
	Kind() string
	// Run follows the source until ctx is done, calling push with the full
	// set of engines each time it read one (at least once it could reach
	// the source, and after each change it sees). push is called from Run's
	// goroutine only. A source that cannot be reached is retried with
	// backoff, and push is not called meanwhile. Run logs with the logger
	// of ctx.
	Run(ctx context.Context, push func([]config.Engine))
}

// Options tune the sources; the zero value is the defaults.
type Options struct {
	// MinBackoff and MaxBackoff bound the wait before another try of a
	// source that cannot be reached (500 ms and 30 s when zero).
	MinBackoff, MaxBackoff time.Duration
	// Resync is how often a Redis source reads its whole hash, besides its
	// notifications (DefaultResync when zero).
	Resync time.Duration
	// Loader parses the engines file of a file source (${VAR} expansion).
	Loader config.Loader
}

// DefaultResync is how often a Redis source reads its whole hash when
// Options.Resync is zero: the safety net under keyspace notifications.
const DefaultResync = 10 * time.Second

// New returns the source d describes.
func New(d config.Discovery, opts Options) (Source, error) {
	switch d.Kind {
	case config.DiscoveryFile:
		return &File{Path: d.File, opts: opts}, nil
	case config.DiscoveryEtcd:
		return &Etcd{Config: d.Etcd, opts: opts}, nil
	case config.DiscoveryRedis:
		return &Redis{Config: d.Redis, opts: opts}, nil
	case config.DiscoveryDNS:
		return &DNS{Config: d.DNS, opts: opts}, nil
	}
	return nil, fmt.Errorf("discovery: unknown source kind %q", d.Kind)
}

// newBackoff returns the backoff of a source that cannot be reached.
func (o Options) newBackoff() *backoff.ExponentialBackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = 500 * time.Millisecond
	if o.MinBackoff > 0 {
		b.InitialInterval = o.MinBackoff
	}
	b.MaxInterval = 30 * time.Second
	if o.MaxBackoff > 0 {
		b.MaxInterval = o.MaxBackoff
	}
	b.Reset()
	return b
}

// sleep waits d or until ctx is done; it reports whether ctx is still live.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// entry is one key of a source and its value, before it is checked.
type entry struct {
	// key is where the entry is in the source (an etcd key, a hash field).
	key, name string
	value     []byte
}

// engines checks the entries of a source of kind, and returns the valid
// ones sorted by name. A bad entry is logged with its source and key.
func engines(log logr.Logger, kind string, entries []entry) []config.Engine {
	out := make([]config.Engine, 0, len(entries))
	for _, e := range entries {
		eng, err := config.ParseSourceEngine(kind+" "+e.key, e.name, e.value)
		if err != nil {
			log.Error(err, "Discovery: bad entry skipped", "source", kind, "key", e.key)
			continue
		}
		out = append(out, eng)
	}
	config.SortEngines(out)
	return out
}

// tlsConfig returns the client TLS config of t (nil: the system's roots).
func tlsConfig(t *config.TLS) (*tls.Config, error) {
	if t == nil {
		return nil, nil
	}
	c := &tls.Config{MinVersion: tls.VersionTLS12, InsecureSkipVerify: !t.Verify} //nolint:gosec // verify: false is the operator's choice
	if t.CA != "" {
		pem, err := os.ReadFile(t.CA)
		if err != nil {
			return nil, fmt.Errorf("tls ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, errors.New("tls ca: no PEM certificate in " + t.CA)
		}
		c.RootCAs = pool
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("tls cert: %w", err)
		}
		c.Certificates = []tls.Certificate{cert}
	}
	return c, nil
}
