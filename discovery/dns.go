package discovery

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/config"
)

// dnsTimeout bounds one resolution of a DNS source.
const dnsTimeout = 5 * time.Second

// DNS is a DNS source: the targets of an SRV name, resolved again every
// Config.Interval. Each target is an engine named by the target (without
// its final dot), at tcp://target:port; with Config.Resolver, the target's
// address is resolved by that server too and written in the URL instead
// (the system's resolver may not know the names it serves). Two records of
// one target at two ports are two engines, named target-port. An answer
// that the name does not exist is an empty set; a server that does not
// answer leaves the last set in force, and is asked again with backoff.
type DNS struct {
	Config config.DNSDiscovery
	opts   Options
}

// Kind returns config.DiscoveryDNS.
func (s *DNS) Kind() string { return config.DiscoveryDNS }

// Run resolves the name until ctx is done.
func (s *DNS) Run(ctx context.Context, push func([]config.Engine)) {
	log := logr.FromContextOrDiscard(ctx).WithValues("source", config.DiscoveryDNS, "srv", s.Config.SRV)
	r := net.DefaultResolver
	if s.Config.Resolver != "" {
		addr := s.Config.Resolver
		r = &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, addr)
		}}
	}
	interval := s.Config.Interval
	if interval <= 0 {
		interval = config.DefaultDNSInterval
	}
	bo := s.opts.newBackoff()
	down := false
	for ctx.Err() == nil {
		set, err := s.resolve(ctx, log, r)
		wait := interval
		switch {
		case err != nil && ctx.Err() != nil:
			return
		case err != nil:
			if !down {
				log.Error(err, "Discovery: cannot resolve the SRV name, its last engines stay; retrying")
			}
			down = true
			wait = min(bo.NextBackOff(), interval)
		default:
			if down {
				log.Info("Discovery: DNS answers again")
			}
			down = false
			bo.Reset()
			push(set)
		}
		if !sleep(ctx, wait) {
			return
		}
	}
}

// resolve returns the engines of the SRV name now.
func (s *DNS) resolve(ctx context.Context, log logr.Logger, r *net.Resolver) ([]config.Engine, error) {
	ctx, cancel := context.WithTimeout(ctx, dnsTimeout)
	defer cancel()
	_, srvs, err := r.LookupSRV(ctx, "", "", s.Config.SRV)
	var dnsErr *net.DNSError
	if errors.As(err, &dnsErr) && dnsErr.IsNotFound {
		return []config.Engine{}, nil
	}
	if err != nil {
		return nil, err
	}
	perTarget := map[string]int{}
	for _, srv := range srvs {
		perTarget[strings.TrimSuffix(srv.Target, ".")]++
	}
	entries := make([]entry, 0, len(srvs))
	for _, srv := range srvs {
		target := strings.TrimSuffix(srv.Target, ".")
		port := strconv.Itoa(int(srv.Port))
		name := target
		if perTarget[target] > 1 {
			name = target + "-" + port
		}
		host := target
		if s.Config.Resolver != "" {
			addrs, err := r.LookupHost(ctx, target)
			if err != nil || len(addrs) == 0 {
				log.Error(err, "Discovery: bad entry skipped: its target has no address", "source", config.DiscoveryDNS, "key", target)
				continue
			}
			host = addrs[0]
		}
		entries = append(entries, entry{key: target + ":" + port, name: name, value: []byte("tcp://" + net.JoinHostPort(host, port))})
	}
	return engines(log, config.DiscoveryDNS, entries), nil
}
