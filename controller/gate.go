package controller

import (
	"errors"
	"strconv"
	"sync"
	"time"
)

// Environment variables of handlers run under a Gate (HA, docs/HA.md).
const (
	// envFenceToken is the fence token of the leadership that started the
	// run: it grows from one leader to the next.
	envFenceToken = "EVENTSD_FENCE_TOKEN"
	// envReplica is the name of the replica that started the run.
	envReplica = "EVENTSD_REPLICA"
)

// standbyRecheck is how often a standby looks again at a key it may not
// run: whether the leader completed its head delivery, or it leads now.
const standbyRecheck = 100 * time.Millisecond

// errNotLeader is the failure of a run the gate closed on at the last moment.
var errNotLeader = errors.New("this replica stopped leading before the run started")

// Gate decides whether this replica may start handlers: the HA election
// (ha.Elector) is the real one. Without a Gate (Options.Gate nil) every
// handler may start.
type Gate interface {
	// Allowed reports whether a handler may start now, and the fence token
	// it runs under.
	Allowed() (token int64, ok bool)
	// Changed returns a channel closed when Allowed may have changed.
	Changed() <-chan struct{}
	// Replica returns this replica's name.
	Replica() string
}

// EngineGate is a Gate that decides per engine (HA shard mode: each engine
// has one owner among the replicas). Event rules' handlers ask it for their
// event's engine; state rules, which span engines, ask Allowed.
type EngineGate interface {
	Gate
	// AllowedEngine reports whether a handler for an event of engine may
	// start now, and the fence token it runs under.
	AllowedEngine(engine string) (token int64, ok bool)
}

// gateState is the gate and what the controller learnt from the shared
// journal: the deliveries another replica completed. It does nothing when
// gate is nil.
type gateState struct {
	gate Gate
	mu   sync.Mutex
	// elsewhere holds the completed-delivery keys (completedKey) another
	// replica recorded: a standby's copy of such a delivery is dropped
	// rather than run.
	elsewhere map[string]struct{}
}

// CompletedElsewhere records that another replica completed a delivery:
// key is its completed-delivery key in the shared journal (rule, engine and
// event ID, NUL-separated). This replica's pending copy of it is dropped
// instead of run.
func (c *Controller) CompletedElsewhere(key string) {
	g := &c.gating
	g.mu.Lock()
	if g.elsewhere == nil {
		g.elsewhere = map[string]struct{}{}
	}
	g.elsewhere[key] = struct{}{}
	g.mu.Unlock()
}

// ForgetElsewhere forgets a key of CompletedElsewhere (the record was
// evicted from the shared journal).
func (c *Controller) ForgetElsewhere(key string) {
	g := &c.gating
	g.mu.Lock()
	delete(g.elsewhere, key)
	g.mu.Unlock()
}

// doneElsewhere reports whether another replica completed d.
func (c *Controller) doneElsewhere(d *delivery) bool {
	g := &c.gating
	g.mu.Lock()
	defer g.mu.Unlock()
	if len(g.elsewhere) == 0 {
		return false
	}
	_, ok := g.elsewhere[completedKey(c.journalRule(d.Rule).name, d.Event.Engine, d.Event.ID)]
	return ok
}

// gateDelivery decides, for the worker holding key, whether d, its head
// delivery, starts now. With no gate it does. A delivery another replica
// completed is dropped; while this replica may not start handlers the key
// comes back later, its deliveries kept. It returns the handler's extra
// environment (the fence token and the replica) when d starts.
func (c *Controller) gateDelivery(key Key, d *delivery) ([]string, bool) {
	g := c.gating.gate
	if g == nil {
		return nil, true
	}
	if c.doneElsewhere(d) {
		c.journalDelete(d)
		more := c.pending.pop(key)
		c.queue.Forget(key)
		if more {
			c.queue.Add(key)
		}
		c.logger().V(1).Info("Dropping a delivery another replica completed", "rule", c.journalRule(d.Rule).name,
			"engine", d.Event.Engine, "event", d.Event.ID)
		return nil, false
	}
	var env []string
	ok := false
	if eg, isEngineGate := g.(EngineGate); isEngineGate {
		if token, allowed := eg.AllowedEngine(d.Event.Engine); allowed {
			env, ok = fenceEnv(token, g.Replica()), true
		}
	} else {
		env, ok = c.gateEnv()
	}
	if !ok {
		c.queue.AddAfter(key, standbyRecheck)
		return nil, false
	}
	return env, true
}

// fenceEnv returns the variables of a handler run under token.
func fenceEnv(token int64, replica string) []string {
	return []string{envFenceToken + "=" + strconv.FormatInt(token, 10), envReplica + "=" + replica}
}

// gateEnv returns the environment a handler gets from the gate, and
// whether it may start now.
func (c *Controller) gateEnv() ([]string, bool) {
	g := c.gating.gate
	if g == nil {
		return nil, true
	}
	token, ok := g.Allowed()
	if !ok {
		return nil, false
	}
	return fenceEnv(token, g.Replica()), true
}

// gateOpen reports whether handlers may start now.
func (c *Controller) gateOpen() bool {
	_, ok := c.gateEnv()
	return ok
}

// gateChanged returns a channel closed when the gate may open or close, nil
// (never ready) without a gate.
func (c *Controller) gateChanged() <-chan struct{} {
	if c.gating.gate == nil {
		return nil
	}
	return c.gating.gate.Changed()
}
