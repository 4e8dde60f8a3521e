package controller

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/samalba/docker-eventsd/metrics"
	"github.com/samalba/docker-eventsd/reconcile"
)

// Results of a handler run, the result label of eventsd_handler_runs_total.
// Each attempt counts once: the last failed attempt of a delivery, after
// which it is given up, counts as gave_up (whether it failed or timed out).
const (
	ResultSuccess = "success"
	ResultFailure = "failure"
	ResultTimeout = "timeout"
	ResultGaveUp  = "gave_up"
)

// results are the result labels, indexed like ruleStats.runs.
var results = [...]string{ResultSuccess, ResultFailure, ResultTimeout, ResultGaveUp}

const (
	resSuccess = iota
	resFailure
	resTimeout
	resGaveUp
)

// ruleStats is what the controller counts of one rule, for the metrics and
// the status: atomics on the hot path, read at scrape time.
type ruleStats struct {
	matched atomic.Uint64
	runs    [len(results)]atomic.Uint64
	// lastRun is the UnixNano of the end of the last run, 0 before.
	lastRun atomic.Int64

	mu sync.Mutex
	// lastError is the error of the last failed run, "" once one succeeded.
	lastError string
}

// RuleStatus is what the controller knows of one rule, for the status.
type RuleStatus struct {
	// Name is the rule's name.
	Name string `json:"name"`
	// Matched counts the events the rule matched.
	Matched uint64 `json:"matched"`
	// Runs counts the handler runs (attempts), Failed those that failed
	// (failure, timeout or gave_up).
	Runs   uint64 `json:"runs"`
	Failed uint64 `json:"failed"`
	// Pending is the number of its deliveries not done yet.
	Pending int `json:"pending"`
	// LastRun is when its last run ended, zero before.
	LastRun time.Time `json:"lastRun,omitzero"`
	// LastError is the error of its last run when it failed.
	LastError string `json:"lastError,omitempty"`
}

// RuleStatuses returns the status of every rule in force, in config order.
func (c *Controller) RuleStatuses() []RuleStatus {
	rs := c.rules.Load()
	pending := c.pending.perRule(len(rs.last))
	out := make([]RuleStatus, len(rs.active))
	for i, r := range rs.active {
		s := r.stats
		st := RuleStatus{Name: r.name, Matched: s.matched.Load(), Pending: pending[r.id]}
		for j := range s.runs {
			n := s.runs[j].Load()
			st.Runs += n
			if j != resSuccess {
				st.Failed += n
			}
		}
		if t := s.lastRun.Load(); t != 0 {
			st.LastRun = time.Unix(0, t)
		}
		s.mu.Lock()
		st.LastError = s.lastError
		s.mu.Unlock()
		out[i] = st
	}
	return out
}

// QueueDepth returns the number of keys waiting in the workqueue.
func (c *Controller) QueueDepth() int { return c.queue.Len() }

// recordRun counts one attempt of rule i that ended with res and err; last
// says whether the delivery is given up after it.
func (c *Controller) recordRun(i int, res reconcile.Result, err error, last bool) {
	r := c.journalRule(i)
	s := r.stats
	k := resSuccess
	switch {
	case err == nil:
	case last:
		k = resGaveUp
	case res.TimedOut || errors.Is(err, reconcile.ErrTimeout):
		k = resTimeout
	default:
		k = resFailure
	}
	s.runs[k].Add(1)
	s.lastRun.Store(c.clock.Now().UnixNano())
	if c.durations != nil {
		c.durations.WithLabelValues(r.name).Observe(res.Duration.Seconds())
	}
	msg := ""
	if err != nil {
		msg = err.Error()
	}
	s.mu.Lock()
	s.lastError = msg
	s.mu.Unlock()
}

// ruleCollector exports the rules' stats at scrape time.
type ruleCollector struct {
	c                              *Controller
	matches, runs, pending, deadLs *prometheus.Desc
	duration                       *prometheus.HistogramVec
}

// SetDeadLetters sets f, which returns the number of dead letters of each
// rule, indexed by the rule's id (Key.Rule); until it is set
// eventsd_dead_letters is 0 for every rule.
func (c *Controller) SetDeadLetters(f func() []int) { c.deadLetters.Store(&f) }

// registerMetrics registers the rules' metrics and the workqueue's into reg,
// and returns the queue's metrics provider (nil without reg).
func (c *Controller) registerMetrics(reg prometheus.Registerer) (*metrics.Workqueue, error) {
	if reg == nil {
		return nil, nil
	}
	ns := metrics.Namespace
	rc := &ruleCollector{
		c:       c,
		matches: prometheus.NewDesc(ns+"_rule_matches_total", "Events each rule matched.", []string{"rule"}, nil),
		runs:    prometheus.NewDesc(ns+"_handler_runs_total", "Handler runs (attempts) by result: success, failure, timeout, gave_up (the last failed attempt of a delivery).", []string{"rule", "result"}, nil),
		pending: prometheus.NewDesc(ns+"_deliveries_pending", "Deliveries not done yet: waiting, waiting for a retry, or running.", []string{"rule"}, nil),
		deadLs:  prometheus.NewDesc(ns+"_dead_letters", "Deliveries given up and kept as dead letters.", []string{"rule"}, nil),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: ns, Name: "handler_duration_seconds", Help: "How long each handler run took.",
			Buckets: []float64{.01, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60, 300},
		}, []string{"rule"}),
	}
	if err := reg.Register(rc); err != nil {
		return nil, err
	}
	c.durations = rc.duration
	for _, r := range c.rules.Load().active {
		c.durations.WithLabelValues(r.name) // a series per rule from the start
	}
	return metrics.NewWorkqueue(reg)
}

// Describe implements prometheus.Collector.
func (rc *ruleCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- rc.matches
	ch <- rc.runs
	ch <- rc.pending
	ch <- rc.deadLs
	rc.duration.Describe(ch)
}

// Collect implements prometheus.Collector.
func (rc *ruleCollector) Collect(ch chan<- prometheus.Metric) {
	c := rc.c
	rs := c.rules.Load()
	pending := c.pending.perRule(len(rs.last))
	var dead []int
	if f := c.deadLetters.Load(); f != nil {
		dead = (*f)()
	}
	for _, r := range rs.active {
		i, name, s := r.id, r.name, r.stats
		ch <- prometheus.MustNewConstMetric(rc.matches, prometheus.CounterValue, float64(s.matched.Load()), name)
		for j, res := range results {
			ch <- prometheus.MustNewConstMetric(rc.runs, prometheus.CounterValue, float64(s.runs[j].Load()), name, res)
		}
		ch <- prometheus.MustNewConstMetric(rc.pending, prometheus.GaugeValue, float64(pending[i]), name)
		n := 0
		if i < len(dead) {
			n = dead[i]
		}
		ch <- prometheus.MustNewConstMetric(rc.deadLs, prometheus.GaugeValue, float64(n), name)
	}
	rc.duration.Collect(ch)
}
