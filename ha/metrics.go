package ha

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// electorMetrics are the election's metrics (docs/OPERATIONS.md).
type electorMetrics struct {
	leader      prometheus.Gauge
	token       prometheus.Gauge
	since       prometheus.Gauge
	leaderships prometheus.Counter
}

// RegisterMetrics registers the election's metrics in reg:
// eventsd_ha_leader{replica} (1 while this replica leads),
// eventsd_ha_fence_token (the token of the leadership this replica knows
// of), eventsd_ha_leader_since_timestamp_seconds (when it began) and
// eventsd_ha_leaderships_total (leaderships this replica won). Call it
// before Run.
func (e *Elector) RegisterMetrics(reg prometheus.Registerer) error {
	m := &electorMetrics{
		leader: prometheus.NewGauge(prometheus.GaugeOpts{Name: "eventsd_ha_leader",
			Help: "1 while this replica leads (runs handlers), 0 while it is a standby.", ConstLabels: prometheus.Labels{"replica": e.opts.ID}}),
		token: prometheus.NewGauge(prometheus.GaugeOpts{Name: "eventsd_ha_fence_token",
			Help: "Fence token (etcd revision) of the leadership this replica knows of, 0 when none."}),
		since: prometheus.NewGauge(prometheus.GaugeOpts{Name: "eventsd_ha_leader_since_timestamp_seconds",
			Help: "When the leadership this replica knows of began, Unix time; 0 when none."}),
		leaderships: prometheus.NewCounter(prometheus.CounterOpts{Name: "eventsd_ha_leaderships_total",
			Help: "Leaderships this replica won."}),
	}
	for _, c := range []prometheus.Collector{m.leader, m.token, m.since, m.leaderships} {
		if err := reg.Register(c); err != nil {
			return err
		}
	}
	e.mu.Lock()
	e.metrics = m
	e.mu.Unlock()
	return nil
}

func (m *electorMetrics) lead(token int64, since time.Time) {
	m.leader.Set(1)
	m.leaderships.Inc()
	m.token.Set(float64(token))
	m.since.Set(float64(since.UnixNano()) / 1e9)
}

func (m *electorMetrics) standby() { m.leader.Set(0) }

// seenLeader records the leader read from etcd, unless this replica leads.
func (m *electorMetrics) seenLeader(v leaderValue) {
	m.token.Set(float64(v.Token))
	if v.Since.IsZero() {
		m.since.Set(0)
		return
	}
	m.since.Set(float64(v.Since.UnixNano()) / 1e9)
}
