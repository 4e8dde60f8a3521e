package controller

import (
	"time"

	"github.com/go-logr/logr"
	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/utils/clock"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/health"
)

// Options configures a Controller.
type Options struct {
	// Config holds the engines and the rules; required. The controller reads
	// it in New and does not keep a reference to change later.
	Config *config.Config
	// Runner runs the handlers; required.
	Runner Runner
	// Workers is the number of handlers that may run at once; zero or less
	// means DefaultWorkers.
	Workers int
	// Grace is the time a stopped handler gets between SIGTERM and SIGKILL;
	// zero or less means DefaultGrace.
	Grace time.Duration
	// Environ is the environment handlers inherit, KEY=VALUE, usually
	// os.Environ(). Nothing else is inherited.
	Environ []string
	// Logger logs what Handle does before Run stores the logger of its context
	// (informers may hand on events before Run starts); zero discards.
	Logger logr.Logger
	// Clock tells the time of retries, of state rules and of the shutdown
	// timeout; nil means the real clock. For tests.
	Clock clock.WithTicker
	// Engines are the caches and health of the engines of the config, which
	// state rules read: a fixed set (tests). A state rule never runs while an
	// engine of the config it may select is missing here. Ignored when
	// EngineSet is set.
	Engines []EngineState
	// EngineSet, when not nil, is the set of engines state rules read, which
	// may change while the controller runs: the daemon's engine registry. The
	// state rules read exactly the engines it lists at each evaluation: an
	// engine removed from it leaves their view with its containers.
	EngineSet EngineSet
	// Journal, when not nil, makes pending deliveries survive a restart (see
	// journal.go and Recover); nil keeps them in memory only.
	Journal Journal
	// StateRuleRecords is what the state rules recorded in the Journal in an
	// earlier run, by rule name: a changed-trigger rule does not run again at
	// start-up for the set its last successful run had.
	StateRuleRecords map[string][]byte
	// CompletedRecords are the completed deliveries an earlier run recorded
	// in the Journal (a CompletionJournal), by key: a replayed event whose
	// delivery completed is not run again (see completed.go).
	CompletedRecords map[string][]byte
	// CompletedLimit and CompletedMaxAge bound the completed deliveries
	// remembered; zero or less means DefaultCompletedLimit and
	// DefaultCompletedMaxAge.
	CompletedLimit  int
	CompletedMaxAge time.Duration
	// Gate, when not nil, decides whether handlers may start (HA: only on
	// the leader, see gate.go); nil lets every handler start.
	Gate Gate
	// Metrics, when not nil, is where the rules' metrics and the workqueue's
	// are registered (see metrics.go).
	Metrics prometheus.Registerer
	// Watchdog, when not nil, watches the workers: one stuck in a delivery
	// past its rule's timeout, grace and health.DefaultLimit is unhealthy.
	Watchdog *health.Watchdog
	// DeadLetterRecords are the dead letters an earlier run kept in the
	// Journal (a DeadLetterJournal), by ID (see deadletter.go).
	DeadLetterRecords []JournaledDelivery
	// DeadLetterLimit bounds the dead letters kept, the oldest dropped
	// beyond it; zero or less means DefaultDeadLetterLimit, or
	// DefaultDurableDeadLetterLimit with a DeadLetterJournal.
	DeadLetterLimit int
	// DryRun runs no handler: each run is logged as "Would run", with its
	// command and full environment, and counts as a success (dryrun.go).
	DryRun bool
	// Webhooks sends the rules' webhooks; nil means a
	// reconcile.WebhookClient of its own.
	Webhooks WebhookSender
	// MonitorResults, when not nil, tells the monitors' results that state
	// rules with monitors: select on (statemonitor.go); nil: such rules
	// select nothing.
	MonitorResults MonitorResults
}
