package controller

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
	"k8s.io/utils/clock"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/health"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/reconcile"
)

const (
	// DefaultWorkers is the number of handlers that may run at once when
	// Options.Workers is zero: enough that one slow handler does not hold up
	// the others, few enough not to load a small host.
	DefaultWorkers = 4
	// DefaultGrace is the time between SIGTERM and SIGKILL for a handler
	// that is stopped, when Options.Grace is zero: the Runner's default.
	DefaultGrace = reconcile.DefaultGrace
)

var _ Runner = (*reconcile.Runner)(nil)

// Runner runs one handler command. *reconcile.Runner is the real one; tests
// use a fake. Run returns a nil error iff the command succeeded, and stops the
// command when ctx is done.
type Runner interface {
	Run(ctx context.Context, cmd reconcile.Command) (reconcile.Result, error)
}

// Controller matches events against the rules and runs their handlers. It is
// safe for concurrent use.
type Controller struct {
	// gating is Options.Gate and what the shared journal said (gate.go).
	gating gateState
	// rules holds the event rules in force (see rules.go); SetRules swaps it.
	rules atomic.Pointer[ruleSet]
	// environ is Options.Environ, for the rules SetRules compiles.
	environ []string
	// stateMu serializes the changes of the state rules' goroutines;
	// stateRun is what they run in, nil until Run.
	stateMu  sync.Mutex
	stateRun *stateRunner
	// reloadMu serializes SetRules.
	reloadMu sync.Mutex
	// engines maps an engine's name to its config, for URLs and labels:
	// those of Config, then those AddEngine gave. Copied on write.
	engines atomic.Pointer[map[string]*config.Engine]
	// enginesMu serializes the writers of engines.
	enginesMu sync.Mutex
	runner    Runner
	workers   int
	grace     time.Duration
	clock     clock.WithTicker

	// queue holds the keys that have a delivery to look at. It is a key
	// queue, not an event queue: it deduplicates, and never hands one key to
	// two workers at once, which is what keeps each key's deliveries in order.
	// Its rate limiter computes the retry backoff of each rule.
	queue workqueue.TypedRateLimitingInterface[Key]
	// limiter is the queue's rate limiter, asked for a retry's delay so it can
	// be recorded in the delivery (NotBefore).
	limiter *ruleRateLimiter
	// pending holds the deliveries of each key, beside the queue.
	pending pendingStore
	// state holds the state rules, each evaluated by its own goroutine.
	state stateSet
	// journal makes pending deliveries durable; nil when there is none.
	journal Journal
	// seq numbers the deliveries, for the journal: a key's deliveries have
	// growing numbers. Recover starts it after the journaled ones.
	seq atomic.Uint64
	// stateResume is Options.StateRuleRecords.
	stateResume map[string][]byte
	// recovered holds the (rule, event) of the deliveries Recover queued: the
	// engine replays events handled just before a crash, and their deliveries
	// are pending already.
	recovered recoveredSet
	// completed holds the completed deliveries: those of an earlier run, not
	// run again for a replayed event, and the bounds of the journal's.
	completed *completedSet
	// log is the logger of Handle, set by Run; it discards until then.
	log atomic.Pointer[logr.Logger]
	// started is set by the first Run.
	started atomic.Bool
	// stopping is set when Run's context is done: Handle ignores events and
	// workers start no handler.
	stopping atomic.Bool
	// running counts the handlers running now.
	running atomic.Int64

	// durations observes each run's duration by rule name; nil without
	// metrics (metrics.go).
	durations *prometheus.HistogramVec
	// deadLetters returns the dead letters of each rule; nil until set.
	deadLetters atomic.Pointer[func() []int]
	// watchdog watches the workers; nil when none.
	watchdog *health.Watchdog
	// dead holds the deliveries given up (deadletter.go).
	dead *deadSet
	// webhooks sends the rules' webhooks (webhook.go).
	webhooks WebhookSender
	// cooldown holds the rules' cooldowns (cooldown.go).
	cooldown *cooldowns
}

// rule is a config rule with what the controller computes from it once.
type rule struct {
	cfg *config.Rule
	// name is cfg.Name, or rule-N for a hand-built rule without one.
	name string
	// id is the rule's Key.Rule: its index in the first config, kept by
	// name across reloads (rules.go).
	id    int
	match matcher
	retry retryPolicy
	// env is the part of the environment that is the same for every event.
	env []string
	// shadowed are names of the rule's env: that the daemon sets itself.
	shadowed []string
	// stats counts what the rule did; shared by every definition of its
	// name across reloads (metrics.go).
	stats *ruleStats
}

// New returns a controller for opts. It panics if opts.Config or opts.Runner
// is nil. Handle may be called before Run: deliveries wait for the workers.
func New(opts Options) *Controller {
	if opts.Config == nil || opts.Runner == nil {
		panic("controller.New: Options.Config and Options.Runner are required")
	}
	c := &Controller{
		runner:  opts.Runner,
		workers: opts.Workers,
		grace:   opts.Grace,
		clock:   opts.Clock,
		journal: opts.Journal,
		environ: opts.Environ,

		watchdog:    opts.Watchdog,
		stateResume: opts.StateRuleRecords,
	}
	c.gating.gate = opts.Gate
	if c.workers <= 0 {
		c.workers = DefaultWorkers
	}
	c.webhooks = opts.Webhooks
	if c.webhooks == nil {
		c.webhooks = reconcile.NewWebhookClient(reconcile.WebhookOptions{})
	}
	c.cooldown = newCooldowns(opts.CompletedRecords)
	if opts.DryRun {
		c.runner = dryRunner{}
		c.webhooks = dryRunner{}
	}
	if c.grace <= 0 {
		c.grace = DefaultGrace
	}
	if c.clock == nil {
		c.clock = clock.RealClock{}
	}
	log := opts.Logger
	if log.GetSink() == nil {
		log = logr.Discard()
	}
	c.log.Store(&log)
	c.initDead(opts, log)
	cj, _ := opts.Journal.(CompletionJournal)
	c.completed = newCompletedSet(opts.CompletedRecords, opts.CompletedLimit, opts.CompletedMaxAge, c.clock.Now(), cj, log)

	cfg := opts.Config
	engines := make(map[string]*config.Engine, len(cfg.Engines))
	for i := range cfg.Engines {
		e := &cfg.Engines[i]
		if _, dup := engines[e.Name]; !dup {
			engines[e.Name] = e
		}
	}
	c.engines.Store(&engines)
	engVars := engineVars(cfg.Engines)
	rs := compileRules(cfg, opts.Environ, nil)
	c.rules.Store(rs)
	set := opts.EngineSet
	if set == nil {
		set = fixedEngines(cfg, opts.Engines)
	}
	c.state = newStateSet(cfg, set, opts.Environ, engVars)
	c.state.monitors = opts.MonitorResults
	c.limiter = newRuleRateLimiter(rs.policies())
	qcfg := workqueue.TypedRateLimitingQueueConfig[Key]{Name: "deliveries", Clock: c.clock}
	if wq, err := c.registerMetrics(opts.Metrics); err != nil {
		log.Error(err, "Cannot register the rules' metrics")
	} else if wq != nil {
		qcfg.MetricsProvider = wq
	}
	c.queue = workqueue.NewTypedRateLimitingQueueWithConfig[Key](c.limiter, qcfg)
	if err := c.registerCooldownMetrics(opts.Metrics); err != nil {
		log.Error(err, "Cannot register the cooldowns' metric")
	}
	return c
}

// logger returns the logger of Handle.
func (c *Controller) logger() logr.Logger { return *c.log.Load() }

// Handle matches ev against every rule and queues a delivery for each
// matching rule that has a command. It never waits for a handler, and is safe
// for concurrent use. After shutdown it does nothing.
func (c *Controller) Handle(ev *informer.Event) {
	if ev == nil {
		return
	}
	log := c.logger()
	if c.stopping.Load() {
		log.V(1).Info("Ignoring event after shutdown", "type", ev.Kind(), "engine", ev.Engine, "container", containerName(ev), "event", ev.ID)
		return
	}
	// State rules only learn that something may have changed: each one
	// evaluates in its own goroutine.
	c.state.mark()
	// One load: the event is matched against one rule set, the old or the
	// new one of a reload, never both.
	rs := c.rules.Load()
	matched := false
	var evJSON []byte
	for _, r := range rs.active {
		if r.match.match(ev) {
			matched = true
			c.fire(log, r, ev, &evJSON)
		}
	}
	if !matched {
		// Checked first: building the key/values costs more than matching.
		if l := log.V(rs.uncaughtV); l.Enabled() {
			l.Info("Uncaught event", "type", ev.Kind(), "engine", ev.Engine, "url", c.engineURL(ev.Engine), "container", containerName(ev))
		}
	}
}

// fire logs rule r's log: text and queues a delivery of ev if it has a
// command. evJSON holds ev encoded for the journal, once encoded.
func (c *Controller) fire(log logr.Logger, r *rule, ev *informer.Event, evJSON *[]byte) {
	i := r.id
	r.stats.matched.Add(1)
	if r.cfg.Log != "" {
		log.Info("Rule fired", "rule", r.name, "log", r.cfg.Log, "engine", ev.Engine, "container", containerName(ev), "event", ev.ID)
	} else {
		log.V(1).Info("Rule matched", "rule", r.name, "engine", ev.Engine, "container", containerName(ev), "event", ev.ID)
	}
	if r.cfg.Command == "" && r.cfg.Webhook == nil {
		return
	}
	if c.recovered.has(i, ev.ID) {
		log.V(1).Info("Ignoring a replayed event: its delivery was recovered from the journal", "rule", r.name, "engine", ev.Engine, "container", containerName(ev), "event", ev.ID)
		return
	}
	if c.skipCompleted(log, i, ev) {
		return
	}
	k := Key{Rule: i, Engine: ev.Engine, Container: containerID(ev)}
	d := &delivery{Event: ev, Rule: i, Enqueued: c.clock.Now(), seq: c.seq.Add(1), eventJSON: *evJSON}
	// Journaled before it is queued (a worker could finish it first) and
	// before Handle returns (the informer's checkpoint may then cover ev).
	c.journalPut(d)
	*evJSON = d.eventJSON // encoded once for every rule ev fires
	if !c.pending.push(k, d) {
		c.journalDelete(d)
		log.V(1).Info("Ignoring event after shutdown", "rule", r.name, "engine", ev.Engine, "container", containerName(ev), "event", ev.ID)
		return
	}
	c.queue.Add(k)
}

// Pending returns the number of deliveries not done yet: waiting, waiting for
// a retry, or running.
func (c *Controller) Pending() int { return c.pending.len() }

// Run runs the workers until ctx is done, then shuts down: it stops starting
// handlers, waits up to shutdownTimeout for the running ones, then cancels
// them (a cancelled handler gets Options.Grace between SIGTERM and SIGKILL)
// and waits for them to end. A shutdownTimeout of zero or less cancels them at
// once. The deliveries that never finished are logged and dropped.
//
// Run logs with the logger of ctx (logr.FromContextOrDiscard), which Handle
// uses too from then on. It returns nil after a clean shutdown, and an error
// if called more than once.
func (c *Controller) Run(ctx context.Context, shutdownTimeout time.Duration) error {
	if !c.started.CompareAndSwap(false, true) {
		return errors.New("controller: Run called more than once")
	}
	log := logr.FromContextOrDiscard(ctx)
	c.log.Store(&log)
	for _, r := range c.rules.Load().active {
		for _, name := range r.shadowed {
			log.Info("Ignoring rule env variable: the daemon sets it", "rule", r.name, "variable", name)
		}
	}
	c.logStateConfig(log)

	// Handlers outlive ctx by up to shutdownTimeout: they get their own
	// context, cancelled only when that time is up.
	runCtx, cancelRuns := context.WithCancel(logr.NewContext(context.WithoutCancel(ctx), log))
	defer cancelRuns()
	var wg sync.WaitGroup
	c.startStates(ctx, runCtx, &wg)
	for i := range c.workers {
		wg.Go(func() { c.runWorker(runCtx, i+1) })
	}
	log.Info("Started workers", "workers", c.workers)

	<-ctx.Done()
	c.stopStates()
	c.stopping.Store(true)
	c.pending.close()
	log.Info("Shutting down, waiting for running handlers", "running", c.running.Load(), "timeout", shutdownTimeout)
	// Workers now drain the queue without starting anything, then exit.
	c.queue.ShutDown()
	done := make(chan struct{})
	go func() {
		wg.Wait()
		close(done)
	}()
	if !c.wait(done, shutdownTimeout) {
		log.Info("Shutdown timeout, stopping running handlers", "running", c.running.Load())
		cancelRuns()
		<-done
	}

	if n := c.pending.len(); n > 0 && c.journal != nil {
		log.Info("Shutting down with pending deliveries, kept in the journal for the next start", "pending", n)
	} else if n > 0 {
		log.Info("Shutting down with pending deliveries", "dropped", n)
		c.pending.each(func(k Key, d *delivery) {
			log.V(1).Info("Dropped delivery", "rule", c.ruleName(k.Rule), "engine", k.Engine,
				"container", containerName(d.Event), "event", d.Event.ID, "attempts", d.Attempt)
		})
	}
	log.Info("Controller stopped")
	return nil
}

// wait reports whether done was closed within timeout.
func (c *Controller) wait(done <-chan struct{}, timeout time.Duration) bool {
	if timeout <= 0 {
		select {
		case <-done:
			return true
		default:
			return false
		}
	}
	t := c.clock.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
		return true
	case <-t.C():
		return false
	}
}

// engine returns the config of the named engine, nil when the controller
// does not know it.
func (c *Controller) engine(name string) *config.Engine { return (*c.engines.Load())[name] }

// AddEngine makes the controller know the engine e, added while it runs (or
// replaced: a new URL): the deliveries of its events get its URL. The
// ENGINE_<NAME> variables of the handlers stay those of the Config. An engine
// removed later stays known, for the deliveries of its events still pending.
func (c *Controller) AddEngine(e config.Engine) {
	c.enginesMu.Lock()
	defer c.enginesMu.Unlock()
	old := *c.engines.Load()
	m := make(map[string]*config.Engine, len(old)+1)
	for k, v := range old {
		m[k] = v
	}
	m[e.Name] = &e
	c.engines.Store(&m)
}

// engineURL returns the URL of the named engine, or "".
func (c *Controller) engineURL(name string) string {
	if e := c.engine(name); e != nil {
		return e.URL
	}
	return ""
}

// containerName returns the name of ev's container without its leading slash,
// or "" for an engine event.
func containerName(ev *informer.Event) string {
	if ev.Container != nil {
		return ev.Container.Name
	}
	if ev.Type == informer.TypeEngine {
		return ""
	}
	n := ev.Attributes["name"]
	if len(n) > 0 && n[0] == '/' {
		n = n[1:]
	}
	return n
}

// containerID returns the ID of ev's container, or "" for an engine event.
func containerID(ev *informer.Event) string {
	if ev.Type != informer.TypeContainer && ev.Type != informer.TypeEngine && ev.Type != "" {
		// Another kind: its deliveries run in order per kind and actor.
		return ev.Type + "/" + ev.ActorID
	}
	if ev.ActorID != "" || ev.Container == nil {
		return ev.ActorID
	}
	return ev.Container.ID
}
