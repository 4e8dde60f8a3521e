package controller

import (
	"context"
	"reflect"
	"strconv"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/config"
)

// ruleSet is the event rules in force at one moment. It is never changed
// once published: Handle loads it once per event, so that an event is matched
// against one set, the old or the new one of a reload, never both.
//
// A rule's id (Key.Rule) is its index in the first config, and stays the
// rule's while its name stays in the config: the deliveries queued under an
// id run with the definition the id has when they run. A new name gets the
// next id; an id is never given to another name.
type ruleSet struct {
	// active are the rules in force, in config order.
	active []*rule
	// byID holds the rules in force by id; nil for a removed rule.
	byID []*rule
	// last holds the last definition of every id, removed ones included:
	// what the journal and the logs name.
	last []*rule
	// ids maps every name ever given to its id.
	ids map[string]int
	// uncaughtV is the V-level of the "Uncaught event" line: 0 (info) when
	// the config has no rules at all, so that the daemon logs every event as
	// the 2014 original did; 1 (debug, -v 1) otherwise, when an event that no
	// rule wants is noise, and logging it would cost more than handling it.
	uncaughtV int
}

// compileRules compiles the event rules of cfg, keeping the ids of prev
// (nil for the first config) by name.
func compileRules(cfg *config.Config, environ []string, prev *ruleSet) *ruleSet {
	rs := &ruleSet{ids: map[string]int{}}
	if prev != nil {
		rs.last = append(rs.last, prev.last...)
		for name, id := range prev.ids {
			rs.ids[name] = id
		}
	}
	rs.byID = make([]*rule, len(rs.last))
	if len(cfg.Rules) > 0 || len(cfg.StateRules) > 0 {
		rs.uncaughtV = 1
	}
	reserved := reservedEnv(cfg.Engines)
	engVars := engineVars(cfg.Engines)
	for i := range cfg.Rules {
		r := &cfg.Rules[i]
		name := r.Name
		if name == "" {
			name = "rule-" + strconv.Itoa(i+1)
		}
		env, shadowed := baseEnv(environ, r.Env, engVars, reserved)
		cr := &rule{cfg: r, name: name, match: compileMatcher(r), retry: newRetryPolicy(r.Retry), env: env, shadowed: shadowed}
		id, known := rs.ids[name]
		if !known || rs.byID[id] != nil {
			// A new name, or a second rule of the same name in a config built
			// by hand: a new id.
			id = len(rs.last)
			rs.last = append(rs.last, nil)
			rs.byID = append(rs.byID, nil)
			if !known {
				rs.ids[name] = id
			}
		}
		cr.id = id
		if known && rs.last[id] != nil {
			cr.stats = rs.last[id].stats // counted by name across reloads
		} else {
			cr.stats = &ruleStats{}
		}
		rs.last[id], rs.byID[id] = cr, cr
		rs.active = append(rs.active, cr)
	}
	return rs
}

// policies returns the retry policies of every id.
func (rs *ruleSet) policies() []retryPolicy {
	out := make([]retryPolicy, len(rs.last))
	for i, r := range rs.last {
		out[i] = r.retry
	}
	return out
}

// journalRule returns the last definition of the rule of id, removed or not.
func (c *Controller) journalRule(id int) *rule { return c.rules.Load().last[id] }

// ruleName returns the name of the rule of id, removed or not.
func (c *Controller) ruleName(id int) string { return c.journalRule(id).name }

// RuleChanges is what SetRules changed, by rule name, in config order
// (removed ones in the old config's order).
type RuleChanges struct {
	// Added are the names new to the config.
	Added []string
	// Changed are the rules whose definition changed: their queued
	// deliveries run with the new one.
	Changed []string
	// Removed are the rules no longer in the config: their queued
	// deliveries are dropped, each logged.
	Removed []string
	// Unchanged are the rules whose definition is the same (where it is
	// declared does not count).
	Unchanged []string
}

// Empty reports whether nothing was added, changed or removed.
func (c RuleChanges) Empty() bool {
	return len(c.Added) == 0 && len(c.Changed) == 0 && len(c.Removed) == 0
}

// Reloaded is what SetRules did: to the event rules and to the state rules.
type Reloaded struct {
	Rules, StateRules RuleChanges
}

// SetRules puts the rules of cfg in force, matched to those in force by
// name, while the controller runs (or before Run). Only cfg's rules and
// state rules are read; its engines give the ENGINE_<NAME> variables of the
// rules it defines anew. Safe for concurrent use with Handle:
//
//   - an event is matched against the old rules or the new ones, never both
//     and never neither;
//   - a handler already running finishes, with its definition;
//   - a delivery queued for a rule still in cfg runs with the new definition
//     (its command, env, timeout and retry policy), its attempts so far
//     counted;
//   - a delivery queued for a rule no longer in cfg is dropped, and logged;
//   - a state rule whose definition did not change keeps running as it was
//     (it does not run again for the set it last ran for); a new or changed
//     one starts anew, once the old one's run in progress ended, and runs for
//     the set it finds; a removed one stops after its run in progress. Every
//     state rule evaluates again.
func (c *Controller) SetRules(cfg *config.Config) Reloaded {
	c.reloadMu.Lock()
	defer c.reloadMu.Unlock()
	old := c.rules.Load()
	rs := compileRules(cfg, c.environ, old)
	// A key of a new id may ask the limiter as soon as rs is published.
	c.limiter.setPolicies(rs.policies())
	c.rules.Store(rs)

	var ch RuleChanges
	for _, r := range rs.active {
		var o *rule
		if r.id < len(old.byID) {
			o = old.byID[r.id]
		}
		switch {
		case o == nil:
			ch.Added = append(ch.Added, r.name)
		case sameRule(o.cfg, r.cfg):
			ch.Unchanged = append(ch.Unchanged, r.name)
		default:
			ch.Changed = append(ch.Changed, r.name)
		}
	}
	removed := false
	for _, o := range old.active {
		if rs.byID[o.id] == nil {
			ch.Removed = append(ch.Removed, o.name)
			removed = true
		}
	}
	if removed {
		// Their keys are woken now, even those waiting for a retry: the
		// worker that gets one drops its deliveries (after the handler
		// running, if any). A delivery Handle queues for one of them later,
		// having matched the old rules, is dropped the same way.
		var keys []Key
		c.pending.each(func(k Key, _ *delivery) {
			if rs.byID[k.Rule] == nil {
				keys = append(keys, k)
			}
		})
		for _, k := range keys {
			c.queue.Add(k)
		}
	}
	if c.durations != nil {
		for _, name := range ch.Added {
			c.durations.WithLabelValues(name)
		}
		for _, name := range ch.Removed {
			c.durations.DeleteLabelValues(name)
		}
	}
	return Reloaded{Rules: ch, StateRules: c.setStateRules(cfg)}
}

// dropRemoved drops every delivery of key, whose rule a reload removed,
// logging each.
func (c *Controller) dropRemoved(ctx context.Context, key Key) {
	log := logr.FromContextOrDiscard(ctx)
	name := c.ruleName(key.Rule)
	for {
		d := c.pending.head(key)
		if d == nil {
			break
		}
		c.journalDelete(d)
		more := c.pending.pop(key)
		log.Info("Dropped delivery: its rule was removed by a reload", "rule", name, "engine", key.Engine,
			"container", containerName(d.Event), "event", d.Event.ID, "attempts", d.Attempt)
		if !more {
			break
		}
	}
	c.queue.Forget(key)
}

// sameRule reports whether a and b define the same rule; where each is
// declared does not count.
func sameRule(a, b *config.Rule) bool {
	x, y := *a, *b
	x.Pos, y.Pos = config.Pos{}, config.Pos{}
	return reflect.DeepEqual(x, y)
}

// sameStateRule reports whether a and b define the same state rule; where
// each is declared does not count.
func sameStateRule(a, b *config.StateRule) bool {
	x, y := *a, *b
	x.Pos, y.Pos = config.Pos{}, config.Pos{}
	return reflect.DeepEqual(x, y)
}

// stateRunner is what the state rules' goroutines run in, from Run.
type stateRunner struct {
	ctx, runCtx context.Context
	wg          interface{ Go(func()) }
}

// startStateRule starts the goroutine of s, after prev's has returned when
// prev is not nil (a rule of the same name that s replaces). Called with
// stateMu held, after Run started the state rules.
func (c *Controller) startStateRule(s, prev *stateRule) {
	run := c.stateRun
	ctx, cancel := context.WithCancel(run.ctx)
	s.cancel, s.done = cancel, make(chan struct{})
	var wait <-chan struct{}
	if prev != nil && prev.done != nil {
		wait = prev.done
	}
	run.wg.Go(func() {
		defer close(s.done)
		if wait != nil {
			select {
			case <-wait:
			case <-ctx.Done():
				return
			}
		}
		c.runStateRule(ctx, run.runCtx, s)
	})
}

// stopStates makes the state rules' goroutines final: none starts after it.
func (c *Controller) stopStates() {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	c.stateRun = nil
}

// setStateRules puts the state rules of cfg in force (see SetRules).
func (c *Controller) setStateRules(cfg *config.Config) RuleChanges {
	c.stateMu.Lock()
	defer c.stateMu.Unlock()
	old := c.state.rules()
	byName := make(map[string]*stateRule, len(old))
	for _, s := range old {
		byName[s.name] = s
	}
	var ch RuleChanges
	next := make([]*stateRule, 0, len(cfg.StateRules))
	type start struct{ s, prev *stateRule }
	var starts []start
	for _, s := range compileStateRules(cfg, c.environ, engineVars(cfg.Engines)) {
		o, ok := byName[s.name]
		delete(byName, s.name)
		if ok && sameStateRule(o.cfg, s.cfg) {
			ch.Unchanged = append(ch.Unchanged, s.name)
			next = append(next, o)
			continue
		}
		if ok {
			ch.Changed = append(ch.Changed, s.name)
			if o.cancel != nil {
				o.cancel()
			}
		} else {
			ch.Added = append(ch.Added, s.name)
		}
		s.reloaded = true
		next = append(next, s)
		starts = append(starts, start{s, o})
	}
	for _, o := range old {
		if _, gone := byName[o.name]; gone {
			ch.Removed = append(ch.Removed, o.name)
			if o.cancel != nil {
				o.cancel()
			}
		}
	}
	c.state.list.Store(&next)
	if c.stateRun != nil {
		for _, st := range starts {
			c.startStateRule(st.s, st.prev)
		}
	}
	for _, s := range next {
		s.mark()
	}
	return ch
}
