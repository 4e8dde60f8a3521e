package daemon

import (
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/discovery"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/reconcile"
)

// Defaults of Options (and of the daemon's flags).
const (
	// DefaultShutdownTimeout is how long running handlers may finish at
	// shutdown when Options.ShutdownTimeout is zero.
	DefaultShutdownTimeout = 30 * time.Second
	// DefaultHeartbeat, DefaultHeartbeatTimeout and DefaultMaxBackoff are the
	// informers' defaults.
	DefaultHeartbeat        = informer.DefaultHeartbeat
	DefaultHeartbeatTimeout = informer.DefaultHeartbeatTimeout
	DefaultMaxBackoff       = informer.DefaultMaxBackoff
)

// Options configures a Daemon. Only Config is required.
type Options struct {
	// Config holds the engines and the rules; required. The daemon does not
	// change it.
	Config *config.Config
	// Workers is the number of handlers that may run at once
	// (controller.DefaultWorkers when zero).
	Workers int
	// Heartbeat, HeartbeatTimeout and MaxBackoff are those of every informer
	// (the informer's defaults when zero).
	Heartbeat, HeartbeatTimeout, MaxBackoff time.Duration
	// ShutdownTimeout is how long running handlers may finish once Run's
	// context is done, before they are stopped (DefaultShutdownTimeout when
	// zero; negative: stopped at once).
	ShutdownTimeout time.Duration
	// StateDir is the directory of the durable state (state.db); "" keeps
	// nothing across a restart.
	StateDir string
	// CheckpointInterval is how often the engines' checkpoints are written
	// (checkpoint.DefaultInterval when zero).
	CheckpointInterval time.Duration
	// Environ is the environment handlers inherit, KEY=VALUE, usually
	// os.Environ(). Nothing else is inherited.
	Environ []string
	// Logger logs what the daemon does; Run uses it too unless its context
	// carries a logger. Zero discards.
	Logger logr.Logger
	// Runner runs the handlers (a new reconcile.Runner when nil).
	Runner *reconcile.Runner
	// NewClient makes the client of an engine (informer.NewClient when nil):
	// tests and benchmarks give fake engines.
	NewClient func(config.Engine) (informer.Client, error)
	// Loader parses the config file again at a reload (Reload); the zero
	// Loader reads the process environment.
	Loader config.Loader
	// Observe, when not nil, sees every event an informer hands on, just
	// before the controller does (benchmarks measure the lag there). It must
	// not keep or change the event, and must be fast.
	Observe informer.Handler
	// Metrics, when not nil, is where the daemon's metrics are registered:
	// the engines', the rules', the workqueue's, the config reload's (see
	// docs/OPERATIONS.md). A Registerer may take one daemon only.
	Metrics prometheus.Registerer
	// StuckAfter is how long an engine's processing loop may stay in one
	// event before the daemon is unhealthy (Stuck; health.DefaultLimit when
	// zero). Workers get their rule's timeout and grace on top.
	StuckAfter time.Duration
	// Discovery tunes the sources of the config's discovery: (backoff, the
	// Redis resync); the zero value is their defaults.
	Discovery discovery.Options
	// DryRun runs no handler: each run is logged as "Would run" with its full
	// environment and counts as a success (run --dry-run).
	DryRun bool
}

// withDefaults returns o with its zero values filled in.
func (o Options) withDefaults() Options {
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = DefaultShutdownTimeout
	}
	if o.ShutdownTimeout < 0 {
		o.ShutdownTimeout = 0
	}
	if o.Logger.GetSink() == nil {
		o.Logger = logr.Discard()
	}
	if o.Runner == nil {
		o.Runner = reconcile.NewRunner(reconcile.Options{})
	}
	if o.NewClient == nil {
		o.NewClient = func(e config.Engine) (informer.Client, error) { return informer.NewClient(e) }
	}
	return o
}

// actions returns the container actions the engines stream for cfg: those
// its rules want (nil: all), none when it has only state rules (the caches
// get what they need anyway, and nothing is logged as uncaught).
func actions(cfg *config.Config) []string {
	types := informer.ContainerTypesFor(cfg.Rules)
	if len(cfg.Rules) > 0 && len(types) == 0 {
		return []string{} // only rules about other kinds: container state actions only
	}
	if len(types) == 0 && len(cfg.StateRules) > 0 {
		return []string{}
	}
	return informer.ActionsFor(types)
}

// objects returns the kinds other than container the engines stream for
// cfg, with the actions its rules want (see informer.ObjectsFor).
func objects(cfg *config.Config) map[string][]string {
	return informer.ObjectsFor(cfg.Rules)
}
