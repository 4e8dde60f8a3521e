// Package endpoint is the daemon's own HTTP endpoint (--listen): /metrics
// (Prometheus), /healthz (the daemon's loops make progress), /readyz (the
// config is loaded and every engine is in sync, or down past its grace),
// /status (the daemon's Status as JSON, for `docker-eventsd status`), and
// /debug/pprof/ when asked for.
//
// It listens on a loopback TCP address (DefaultAddr), a Unix socket
// (unix:///path) or nothing (off). It reads the daemon through the Daemon
// interface and knows nothing of its parts.
package endpoint
