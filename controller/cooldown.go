package controller

import (
	"context"
	"encoding/json"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/samalba/docker-eventsd/metrics"
)

// cooldownKey is what a cooldown is counted for: a rule, by name (so that a
// reload keeps it), on one container of one engine (or on the engine, for
// its own events).
type cooldownKey struct {
	rule, engine, container string
}

// cooldowns remembers, per cooldownKey, when its last delivery succeeded,
// for the rules with a cooldown: a delivery of the key within the rule's
// cooldown after that is skipped (anti-flapping: a second failover right
// after one is what a failover must not do on its own).
type cooldowns struct {
	mu sync.Mutex
	// last is when the last delivery of each key succeeded.
	last map[cooldownKey]time.Time
	// sweepAt is the size of last at which entries past every cooldown
	// are forgotten.
	sweepAt int
	// skips counts the skipped deliveries of each rule, by name.
	skips map[string]*atomic.Uint64
}

// minCooldownSweep is the smallest size at which cooldowns sweeps.
const minCooldownSweep = 1024

// newCooldowns returns the cooldowns of the completed deliveries an earlier
// run recorded (Options.CompletedRecords): with --state-dir a cooldown
// survives a restart, for as long as the journal remembers the delivery
// (DefaultCompletedMaxAge, DefaultCompletedLimit).
func newCooldowns(records map[string][]byte) *cooldowns {
	cd := &cooldowns{last: map[cooldownKey]time.Time{}, sweepAt: minCooldownSweep, skips: map[string]*atomic.Uint64{}}
	for _, data := range records {
		var rec completedRecord
		if json.Unmarshal(data, &rec) != nil || rec.Outcome != "succeeded" || !rec.HasContainer || rec.At.IsZero() {
			continue
		}
		k := cooldownKey{rec.Rule, rec.Engine, rec.Container}
		if rec.At.After(cd.last[k]) {
			cd.last[k] = rec.At
		}
	}
	return cd
}

// succeeded records that a delivery of k succeeded at now; longest is the
// longest cooldown of the rules in force, past which entries are forgotten.
func (cd *cooldowns) succeeded(k cooldownKey, now time.Time, longest time.Duration) {
	cd.mu.Lock()
	defer cd.mu.Unlock()
	cd.last[k] = now
	if len(cd.last) < cd.sweepAt {
		return
	}
	for key, at := range cd.last {
		if now.Sub(at) >= longest {
			delete(cd.last, key)
		}
	}
	cd.sweepAt = max(minCooldownSweep, 2*len(cd.last))
}

// since returns when the last delivery of k succeeded, if one did.
func (cd *cooldowns) since(k cooldownKey) (time.Time, bool) {
	cd.mu.Lock()
	defer cd.mu.Unlock()
	at, ok := cd.last[k]
	return at, ok
}

// skipped counts a skipped delivery of rule.
func (cd *cooldowns) skipped(rule string) {
	cd.mu.Lock()
	n := cd.skips[rule]
	if n == nil {
		n = &atomic.Uint64{}
		cd.skips[rule] = n
	}
	cd.mu.Unlock()
	n.Add(1)
}

// skipCount returns how many deliveries of rule were skipped.
func (cd *cooldowns) skipCount(rule string) uint64 {
	cd.mu.Lock()
	n := cd.skips[rule]
	cd.mu.Unlock()
	if n == nil {
		return 0
	}
	return n.Load()
}

// CooldownSkips returns how many deliveries of the rule named rule were
// skipped because it was cooling down.
func (c *Controller) CooldownSkips(rule string) uint64 { return c.cooldown.skipCount(rule) }

// cooldownKeyOf returns the cooldown key of key, whose rule is r.
func cooldownKeyOf(key Key, r *rule) cooldownKey {
	return cooldownKey{rule: r.name, engine: key.Engine, container: key.Container}
}

// skipCooldown completes d, the head delivery of key, without running it
// when r is cooling down for key: a delivery of key succeeded less than
// r's cooldown ago. Only a first attempt is skipped: a delivery that has
// started runs to its end. It logs and counts the skip.
func (c *Controller) skipCooldown(ctx context.Context, key Key, r *rule, d *delivery) bool {
	cool := r.cfg.Cooldown
	if cool <= 0 || d.Attempt > 0 || d.commandDone {
		return false
	}
	at, ok := c.cooldown.since(cooldownKeyOf(key, r))
	if !ok {
		return false
	}
	ago := c.clock.Since(at)
	if ago >= cool {
		return false
	}
	c.cooldown.skipped(r.name)
	c.complete(key, d, "skipped-cooldown")
	logr.FromContextOrDiscard(ctx).Info("Skipped delivery: the rule is cooling down", "rule", r.name, "engine", key.Engine,
		"container", containerName(d.Event), "event", d.Event.ID, "lastSuccess", ago.Round(time.Millisecond).String(),
		"cooldown", cool.String(), "remaining", (cool - ago).Round(time.Millisecond).String())
	return true
}

// startCooldown records that a delivery of key, whose rule is r, succeeded
// now, when r has a cooldown.
func (c *Controller) startCooldown(key Key, r *rule) {
	if r.cfg.Cooldown <= 0 {
		return
	}
	var longest time.Duration
	for _, ar := range c.rules.Load().active {
		longest = max(longest, ar.cfg.Cooldown)
	}
	c.cooldown.succeeded(cooldownKeyOf(key, r), c.clock.Now(), longest)
}

// cooldownCollector exports eventsd_rule_cooldown_skips_total at scrape
// time, for every rule in force that has a cooldown.
type cooldownCollector struct {
	c     *Controller
	skips *prometheus.Desc
}

// registerCooldownMetrics registers the cooldowns' metric into reg (nil:
// none).
func (c *Controller) registerCooldownMetrics(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	return reg.Register(&cooldownCollector{c: c, skips: prometheus.NewDesc(metrics.Namespace+"_rule_cooldown_skips_total",
		"Deliveries skipped because their rule was cooling down for their container (cooldown:).", []string{"rule"}, nil)})
}

// Describe implements prometheus.Collector.
func (cc *cooldownCollector) Describe(ch chan<- *prometheus.Desc) { ch <- cc.skips }

// Collect implements prometheus.Collector.
func (cc *cooldownCollector) Collect(ch chan<- prometheus.Metric) {
	for _, r := range cc.c.rules.Load().active {
		if r.cfg.Cooldown > 0 {
			ch <- prometheus.MustNewConstMetric(cc.skips, prometheus.CounterValue, float64(cc.c.cooldown.skipCount(r.name)), r.name)
		}
	}
}
