package main

import (
	"context"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/spf13/pflag"

	"github.com/samalba/docker-eventsd/daemon"
	"github.com/samalba/docker-eventsd/endpoint"
	"github.com/samalba/docker-eventsd/metrics"
)

// registerEndpoint adds the flags of the daemon's own endpoint.
func (f *runFlags) registerEndpoint(fl *pflag.FlagSet) {
	fl.StringVar(&f.listen, "listen", endpoint.DefaultAddr, "address of the daemon's endpoint (/metrics, /healthz, /readyz, /status): host:port, unix:///path for a Unix socket, or off")
	fl.BoolVar(&f.pprof, "pprof", false, "serve /debug/pprof/ on the --listen endpoint too")
}

// endpointSetup is the endpoint the flags ask for, before the daemon exists.
type endpointSetup struct {
	addr  endpoint.Addr
	pprof bool
	reg   *prometheus.Registry
}

// endpoint parses --listen; with the endpoint on, the metrics registry is
// made here, for the daemon to register into.
func (f *runFlags) endpoint() (*endpointSetup, error) {
	addr, err := endpoint.ParseAddr(f.listen)
	if err != nil {
		return nil, err
	}
	ep := &endpointSetup{addr: addr, pprof: f.pprof}
	if !addr.Off() {
		ep.reg = metrics.NewRegistry()
	}
	return ep, nil
}

// registry returns where the daemon registers its metrics: nil (no
// metrics) when the endpoint is off.
func (ep *endpointSetup) registry() prometheus.Registerer {
	if ep.reg == nil {
		return nil
	}
	return ep.reg
}

// serve listens and serves the endpoint of d until ctx is done; the channel
// is closed once it stopped. With the endpoint off it is closed at once.
func (ep *endpointSetup) serve(ctx context.Context, log logr.Logger, d *daemon.Daemon) (<-chan struct{}, error) {
	done := make(chan struct{})
	if ep.addr.Off() {
		close(done)
		return done, nil
	}
	srv, err := endpoint.Listen(endpoint.Options{Addr: ep.addr, Daemon: d, Gatherer: ep.reg, Pprof: ep.pprof, Logger: log})
	if err != nil {
		return nil, err
	}
	go func() {
		defer close(done)
		if err := srv.Serve(ctx); err != nil {
			log.Error(err, "Endpoint stopped")
		}
	}()
	return done, nil
}
