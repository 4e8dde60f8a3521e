package daemon

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/samalba/docker-eventsd/health"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/metrics"
)

// The daemon's view of itself, for the endpoint (package endpoint): what
// each engine handed on (a meter around its handler), the engines' gauges
// read at scrape time from the registry, the outcome of the last reload,
// readiness and the status.

// meter is the handler an engine's informer hands its events to: it counts
// them, remembers the last one's time, and reports the engine's processing
// loop to the watchdog, then hands the event on. One per engine name; it
// outlives a replacement of the engine, so its counters keep counting.
type meter struct {
	engine string
	next   informer.Handler
	loop   *health.Loop
	// created is when the engine was first registered (readiness grace).
	created time.Time
	// lastEvent is the UnixNano of the newest event of the engine handed on,
	// by the engine's time; 0 before the first.
	lastEvent atomic.Int64

	// mu guards byKind; the counters are resolved once per (type, action),
	// so that the hot path never builds a label set.
	mu          sync.Mutex
	events      *prometheus.CounterVec // nil without metrics
	byKind      map[string]map[string]prometheus.Counter
	synthesized prometheus.Counter
}

// Handle implements informer.Handler.
func (m *meter) Handle(ev *informer.Event) {
	m.loop.Begin()
	defer m.loop.End()
	if t := ev.Time.UnixNano(); !ev.Synthetic && t > m.lastEvent.Load() {
		m.lastEvent.Store(t)
	}
	if m.events != nil {
		m.count(ev)
	}
	m.next.Handle(ev)
}

// count adds ev to eventsd_events_total (and _synthesized_total).
func (m *meter) count(ev *informer.Event) {
	typ, action := string(ev.Type), ev.Kind()
	m.mu.Lock()
	byAction := m.byKind[typ]
	if byAction == nil {
		byAction = map[string]prometheus.Counter{}
		m.byKind[typ] = byAction
	}
	c := byAction[action]
	if c == nil {
		c = m.events.WithLabelValues(m.engine, typ, action)
		byAction[action] = c
	}
	m.mu.Unlock()
	c.Inc()
	if ev.Synthetic {
		m.synthesized.Inc()
	}
}

// observer holds the daemon's own metrics and the engines' meters.
type observer struct {
	watchdog *health.Watchdog
	// stuckAfter is the limit of the engines' loops.
	stuckAfter time.Duration
	// events and synthesized are nil without metrics.
	events, synthesized *prometheus.CounterVec
	reloadOK, reloadAt  prometheus.Gauge
	// reload is the outcome of the last (re)load, for the status.
	reload atomic.Pointer[ReloadStatus]

	mu     sync.Mutex
	meters map[string]*meter
}

// ReloadStatus is the outcome of the last load of the config.
type ReloadStatus struct {
	// Success is false when the last reload failed (the daemon goes on with
	// the config before it).
	Success bool `json:"success"`
	// At is when the config in use was loaded.
	At time.Time `json:"at"`
}

// newObserver registers the daemon's metrics into reg (none when nil) and
// its engines' collector, reading r at scrape time.
func newObserver(reg prometheus.Registerer, r *registry, stuckAfter time.Duration) (*observer, error) {
	if stuckAfter <= 0 {
		stuckAfter = health.DefaultLimit
	}
	o := &observer{watchdog: health.NewWatchdog(min(time.Second, stuckAfter/4)), stuckAfter: stuckAfter, meters: map[string]*meter{}}
	o.reload.Store(&ReloadStatus{Success: true, At: time.Now()})
	if reg == nil {
		return o, nil
	}
	ns := metrics.Namespace
	o.events = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "events_total",
		Help: "Events the engines handed on, synthesized ones included, by event type and action (without its \": detail\")."},
		[]string{"engine", "type", "action"})
	o.synthesized = prometheus.NewCounterVec(prometheus.CounterOpts{Namespace: ns, Name: "events_synthesized_total",
		Help: "Events the daemon synthesized (transitions missed while disconnected, engine_up/engine_down)."},
		[]string{"engine"})
	o.reloadOK = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "config_reload_success",
		Help: "1 when the last load of the config succeeded, 0 when the last reload failed."})
	o.reloadAt = prometheus.NewGauge(prometheus.GaugeOpts{Namespace: ns, Name: "config_reload_success_timestamp_seconds",
		Help: "When the config in use was loaded."})
	o.reloadOK.Set(1)
	o.reloadAt.Set(float64(o.reload.Load().At.UnixNano()) / 1e9)
	for _, c := range []prometheus.Collector{o.events, o.synthesized, o.reloadOK, o.reloadAt, newEngineCollector(r, o)} {
		if err := reg.Register(c); err != nil {
			return nil, err
		}
	}
	return o, nil
}

// meter returns the meter of the named engine, handing on to next, made on
// first use.
func (o *observer) meter(name string, next informer.Handler) *meter {
	o.mu.Lock()
	defer o.mu.Unlock()
	if m := o.meters[name]; m != nil {
		return m
	}
	m := &meter{engine: name, next: next, loop: o.watchdog.Loop("engine/"+name, o.stuckAfter), created: time.Now()}
	if o.events != nil {
		m.events, m.byKind = o.events, map[string]map[string]prometheus.Counter{}
		m.synthesized = o.synthesized.WithLabelValues(name)
	}
	o.meters[name] = m
	return m
}

// lookup returns the meter of the named engine, nil when none.
func (o *observer) lookup(name string) *meter {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.meters[name]
}

// forget drops the meter of a removed engine, and its series.
func (o *observer) forget(name string) {
	o.mu.Lock()
	m := o.meters[name]
	delete(o.meters, name)
	o.mu.Unlock()
	if m == nil {
		return
	}
	o.watchdog.Remove(m.loop)
	if o.events != nil {
		o.events.DeletePartialMatch(prometheus.Labels{"engine": name})
		o.synthesized.DeleteLabelValues(name)
	}
}

// ConfigReloaded records the outcome of a reload of the config, at: the
// eventsd_config_reload_success gauges and the status. A failed reload
// keeps the time of the config still in use.
func (d *Daemon) ConfigReloaded(ok bool, at time.Time) {
	o := d.obs
	prev := o.reload.Load()
	next := &ReloadStatus{Success: ok, At: prev.At}
	if ok {
		next.At = at
	}
	o.reload.Store(next)
	if o.reloadOK == nil {
		return
	}
	if ok {
		o.reloadOK.Set(1)
		o.reloadAt.Set(float64(at.UnixNano()) / 1e9)
	} else {
		o.reloadOK.Set(0)
	}
}

// Stuck returns the names of the daemon's loops stuck in one piece of work
// past their limit (engine/NAME, worker-N): the daemon is unhealthy.
func (d *Daemon) Stuck() []string { return d.obs.watchdog.Stuck() }

// engineCollector exports the engines' gauges, read from the registry at
// scrape time: nothing is counted on the hot path for them.
type engineCollector struct {
	r                                *registry
	o                                *observer
	up, last, reconnects, containers *prometheus.Desc
}

func newEngineCollector(r *registry, o *observer) *engineCollector {
	ns, l := metrics.Namespace, []string{"engine"}
	return &engineCollector{
		r: r, o: o,
		up:         prometheus.NewDesc(ns+"_engine_up", "1 when the daemon is connected to the engine and in sync with it.", l, nil),
		last:       prometheus.NewDesc(ns+"_engine_last_event_timestamp_seconds", "The engine's time of the newest event it streamed (0 before the first).", l, nil),
		reconnects: prometheus.NewDesc(ns+"_engine_reconnects_total", "Connections to the engine after the first.", l, nil),
		containers: prometheus.NewDesc(ns+"_engine_containers", "Containers in the daemon's cache of the engine.", l, nil),
	}
}

// Describe implements prometheus.Collector.
func (c *engineCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.up
	ch <- c.last
	ch <- c.reconnects
	ch <- c.containers
}

// Collect implements prometheus.Collector.
func (c *engineCollector) Collect(ch chan<- prometheus.Metric) {
	for _, e := range c.r.list.Load().engines {
		inf := e.inf
		name := inf.Name()
		up := 0.0
		if inf.Up() {
			up = 1
		}
		last := 0.0
		if m := c.o.lookup(name); m != nil {
			if t := m.lastEvent.Load(); t != 0 {
				last = float64(t) / 1e9
			}
		}
		ch <- prometheus.MustNewConstMetric(c.up, prometheus.GaugeValue, up, name)
		ch <- prometheus.MustNewConstMetric(c.last, prometheus.GaugeValue, last, name)
		ch <- prometheus.MustNewConstMetric(c.reconnects, prometheus.CounterValue, float64(reconnects(inf)), name)
		ch <- prometheus.MustNewConstMetric(c.containers, prometheus.GaugeValue, float64(inf.Cache().Len()), name)
	}
}

// reconnects returns the informer's connections after the first.
func reconnects(inf *informer.Informer) int64 { return max(inf.Sessions()-1, 0) }
