package monitor

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// execGrace is the time an exec plugin stopped by its timeout gets between
// SIGTERM and SIGKILL of its process group.
const execGrace = time.Second

// Variables an exec plugin gets beside the daemon's environment.
const (
	EnvMonitorName    = "MONITOR_NAME"
	EnvMonitorTarget  = "MONITOR_TARGET"
	EnvMonitorAddress = "MONITOR_ADDRESS"
	EnvFromEngine     = "FROM_ENGINE"
	EnvFromContainer  = "FROM_CONTAINER"
	EnvContainerID    = "CONTAINER_ID"
)

// monitor is a config monitor with its checker, built once.
type monitor struct {
	cfg     *config.Monitor
	checker checker
}

// targetKey identifies a target: its monitor and a container (engine and
// ID) or a fixed address (engine "").
type targetKey struct {
	monitor, engine, id string
}

// target is one (monitor, target) and its goroutine. Only that goroutine
// touches count and ep after start.
type target struct {
	key  targetKey
	mon  *monitor
	name string
	// engine and containerID are those of a container target; "" for a
	// fixed address.
	engine, containerID string
	// fixedPort is the port of a fixed host:port address, 0 otherwise.
	fixedPort int
	// cache is the container's engine cache, to hand the latest container
	// on with an event; nil for a fixed address.
	cache Cache
	// engineURL is the container's engine, for its host.
	engineURL string
	inspector Inspector
	started   time.Time
	// ep is the endpoint once found; net the container's network once
	// inspected (a failed inspect is tried again at the next check).
	ep  *endpoint
	net *Network
	// addr is a tcp target's host:port once known.
	addr string

	count  counter
	cancel context.CancelFunc
	done   chan struct{}
}

// endpoint returns where the target is reached, inspecting a container the
// first time (and again after a failed inspect).
func (t *target) endpoint(ctx context.Context) (endpoint, error) {
	if t.ep != nil {
		return *t.ep, nil
	}
	if t.containerID == "" {
		ep, port := fixedEndpoint(t.name)
		t.fixedPort, t.ep = port, &ep
		return ep, nil
	}
	c := t.cache.Get(t.containerID)
	if c == nil {
		return endpoint{}, errNoAddress
	}
	if c.Labels[LabelAddress] == "" && t.net == nil {
		if t.inspector == nil {
			return endpoint{}, errNoAddress
		}
		n, err := t.inspector.Network(ctx, t.engine, t.containerID)
		if err != nil {
			return endpoint{}, fmt.Errorf("inspect: %w", err)
		}
		t.net = &n
	}
	var n Network
	if t.net != nil {
		n = *t.net
	}
	ep, err := resolve(c, t.engineURL, n)
	if err != nil {
		return endpoint{}, err
	}
	t.ep = &ep
	return ep, nil
}

// env returns the variables that describe the target to an exec plugin.
func (t *target) env(addr string) []string {
	env := []string{EnvMonitorName + "=" + t.mon.cfg.Name, EnvMonitorTarget + "=" + t.name, EnvMonitorAddress + "=" + addr}
	if t.containerID != "" {
		env = append(env, EnvFromEngine+"="+t.engine, EnvFromContainer+"="+t.name, EnvContainerID+"="+t.containerID)
	}
	return env
}

// run checks the target until ctx is done.
func (t *target) run(ctx context.Context, s *Scheduler) {
	defer close(t.done)
	cfg := t.mon.cfg
	interval := cfg.Interval
	// The first check at a random time within the first interval.
	next := t.started.Add(time.Duration(rand.Int64N(int64(interval))))
	timer := time.NewTimer(time.Until(next))
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-timer.C:
		}
		now := time.Now()
		s.observeLateness(now.Sub(next))
		cctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
		o := t.mon.checker.check(cctx, t)
		cancel()
		if ctx.Err() != nil {
			return
		}
		s.checks.Add(1)
		counted := now.Sub(t.started) >= cfg.StartPeriod
		tr := t.count.observe(o.ok, counted, cfg.Failures, cfg.Successes)
		if tr != noTransition {
			s.results.set(t, t.count.result())
			s.changed()
		}
		if tr == wentDown || tr == cameBack {
			s.emit(t, tr, o)
		}
		next = next.Add(interval)
		if after := time.Now(); !next.After(after) {
			// The check overran: skip the checks it made late.
			skip := after.Sub(next)/interval + 1
			next = next.Add(skip * interval)
		}
		timer.Reset(time.Until(next))
	}
}

// event returns the event of a transition of t.
func (t *target) event(tr transition, o outcome, now time.Time) *informer.Event {
	action := eventType(t.mon.cfg.Kind, tr, o)
	res := &informer.MonitorResult{
		Name: t.mon.cfg.Name, Kind: t.mon.cfg.Kind, Target: t.name, Address: o.addr,
		Down: tr == wentDown, Output: o.output,
	}
	if tr == wentDown {
		res.Error, res.Failures = o.err, t.count.fails
	}
	actor := t.mon.cfg.Name + "/" + t.key.id
	ev := &informer.Event{
		ID:      informer.MakeID(t.engine, now.UnixNano(), actor, action, false),
		Engine:  t.engine,
		Type:    informer.TypeMonitor,
		Action:  action,
		ActorID: actor,
		Time:    now,
		Monitor: res,
	}
	if t.cache != nil {
		ev.Container = t.cache.Get(t.containerID)
	}
	return ev
}

// eventType returns the type of the event of a transition of a monitor of
// kind: tcp_timeout for a tcp check that timed out, tcp_refused for any other
// tcp failure (refused, unreachable, no address), http_error, exec_failed;
// tcp_ok, http_ok, exec_ok.
func eventType(kind string, tr transition, o outcome) string {
	down := tr == wentDown
	switch kind {
	case config.MonitorTCP:
		switch {
		case !down:
			return config.TypeTCPOK
		case o.timeout:
			return config.TypeTCPTimeout
		}
		return config.TypeTCPRefused
	case config.MonitorHTTP:
		if down {
			return config.TypeHTTPError
		}
		return config.TypeHTTPOK
	default:
		if down {
			return config.TypeExecFailed
		}
		return config.TypeExecOK
	}
}

// Results holds the current result of every target of a container, for
// state rules (monitors: {mysql: down}). It is safe for concurrent use.
type Results struct {
	mu sync.RWMutex
	m  map[targetKey]result
}

// result is one target's result and the target that owns it: a target
// stopped (its container restarted) cannot change its successor's.
type result struct {
	owner  *target
	status string
}

// NewResults returns an empty Results.
func NewResults() *Results { return &Results{m: map[targetKey]result{}} }

// Result returns the result of the named monitor for a container (up, down
// or starting), and false when the monitor does not check it now.
func (r *Results) Result(monitor, engine, containerID string) (string, bool) {
	r.mu.RLock()
	defer r.mu.RUnlock()
	res, ok := r.m[targetKey{monitor, engine, containerID}]
	return res.status, ok
}

// Len returns the number of targets with a result.
func (r *Results) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.m)
}

// add makes t the owner of its key's result, starting.
func (r *Results) add(t *target) {
	r.mu.Lock()
	r.m[t.key] = result{owner: t, status: t.count.result()}
	r.mu.Unlock()
}

// set changes t's result, if t still owns its key.
func (r *Results) set(t *target, s string) {
	r.mu.Lock()
	if res, ok := r.m[t.key]; ok && res.owner == t {
		r.m[t.key] = result{owner: t, status: s}
	}
	r.mu.Unlock()
}

// remove forgets t's result, if t owns its key.
func (r *Results) remove(t *target) {
	r.mu.Lock()
	if res, ok := r.m[t.key]; ok && res.owner == t {
		delete(r.m, t.key)
	}
	r.mu.Unlock()
}

// logTransition logs a transition with fixed key/values.
func logTransition(log logr.Logger, t *target, tr transition, o outcome) {
	kv := []any{"monitor", t.mon.cfg.Name, "target", t.name, "engine", t.engine, "address", o.addr}
	switch tr {
	case wentDown:
		log.Info("Monitor target down", append(kv, "failures", strconv.Itoa(t.count.fails), "error", o.err)...)
	case cameBack:
		log.Info("Monitor target up", kv...)
	}
}
