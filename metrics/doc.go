// Package metrics holds the Prometheus pieces the daemon's parts share: the
// namespace of every metric, and the workqueue's metrics (a client-go
// workqueue.MetricsProvider that registers into a prometheus.Registerer, so
// each queue gets its metrics through its own config and nothing goes
// through client-go's global provider or Prometheus's default registry).
//
// Each part registers its own collectors where its counters live (the
// controller the rules', the daemon the engines'), into the Registerer it is
// given; the endpoint serves that registry at /metrics.
package metrics
