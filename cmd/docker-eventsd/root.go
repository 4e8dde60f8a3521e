package main

import (
	"errors"
	"time"

	"github.com/spf13/cobra"

	"github.com/samalba/docker-eventsd/daemon"
)

// exitCode is an error that only carries the process's exit status: the command
// already printed what went wrong.
type exitCode int

func (e exitCode) Error() string { return "exit status" }

func asExitCode(err error, target *exitCode) bool { return errors.As(err, target) }

// runFlags are the flags of the daemon itself.
type runFlags struct {
	config           string
	logFormat        string
	verbosity        int
	workers          int
	shutdownTimeout  time.Duration
	heartbeat        time.Duration
	heartbeatTimeout time.Duration
	maxBackoff       time.Duration
	stateDir         string
	// checkpointInterval is hidden: tests stretch it to make the engine
	// replay what a killed daemon had handled.
	checkpointInterval time.Duration
	// listen and pprof: the daemon's own endpoint (endpoint.go).
	listen      string
	pprof       bool
	watchConfig bool
	// dryRun runs no handler: each run is logged as "Would run".
	dryRun bool
}

func (f *runFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVarP(&f.config, "config", "c", "", "path of events.yml (default: one engine \"local\" from DOCKER_HOST, every event logged)")
	fl.StringVar(&f.logFormat, "log-format", "console", "log format: console or json")
	fl.IntVarP(&f.verbosity, "verbosity", "v", 0, "log verbosity: 0 info, 1 debug (with it, the events no rule matched), 2 trace")
	fl.IntVar(&f.workers, "workers", 4, "number of handlers that may run at once")
	fl.DurationVar(&f.shutdownTimeout, "shutdown-timeout", 30*time.Second, "on SIGINT/SIGTERM, how long running handlers may finish before they are killed")
	fl.DurationVar(&f.heartbeat, "heartbeat", daemon.DefaultHeartbeat, "longest an engine may give no sign of life (an answered ping or an event) before it counts as down (engine_down); it is pinged once quiet for --heartbeat minus --heartbeat-timeout (at most 5 times per --heartbeat)")
	fl.DurationVar(&f.heartbeatTimeout, "heartbeat-timeout", daemon.DefaultHeartbeatTimeout, "how long a ping may take before it counts as failed; keep it below --heartbeat (above 4/5 of it, an engine is declared down up to --heartbeat/5 + this after its last sign of life)")
	fl.DurationVar(&f.maxBackoff, "max-backoff", daemon.DefaultMaxBackoff, "longest wait between reconnects to an engine")
	f.registerEndpoint(fl)
	fl.BoolVar(&f.watchConfig, "watch-config", true, "reload the config file when its content changes (its directory is watched: editors' rename-replace and Kubernetes ConfigMap symlink swaps count); SIGHUP reloads either way")
	fl.StringVar(&f.stateDir, "state-dir", "", "directory of the durable state (state.db, created when missing): a restart, even after a crash, replays what it missed and runs pending deliveries again; empty: nothing survives a restart")
	fl.DurationVar(&f.checkpointInterval, "checkpoint-interval", 0, "how often the engines' checkpoints are written to the state file (0: every second); for tests")
	_ = fl.MarkHidden("checkpoint-interval")
	fl.BoolVar(&f.dryRun, "dry-run", false, "follow the cluster and match the rules, but run no handler: log \"Would run\" with the command and its full environment instead (a delivery then counts as done)")
}

func newRootCommand() *cobra.Command {
	var flags runFlags
	root := &cobra.Command{
		Use:   "docker-eventsd [events.yml]",
		Short: "Run commands when events happen on a cluster of Docker engines",
		Long: `docker-eventsd listens to the events of the Docker engines named in events.yml
and runs each rule's command when an event matches it, with retries, backoff and
timeouts. "docker-eventsd events.yml" is the same as "docker-eventsd run -c events.yml".`,
		Args:          cobra.MaximumNArgs(1),
		SilenceUsage:  true,
		SilenceErrors: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				if flags.config != "" {
					return errors.New("give the config either as an argument or with -c, not both")
				}
				flags.config = args[0]
			}
			return runDaemon(cmd.Context(), &flags)
		},
	}
	flags.register(root)
	root.AddCommand(newRunCommand(), newValidateCommand(), newVersionCommand())
	root.AddCommand(newStatusCommand())
	root.AddCommand(newDeadCommand())
	root.AddCommand(newMatchCommand(), newRecordCommand(), newReplayCommand())
	return root
}

func newRunCommand() *cobra.Command {
	var flags runFlags
	cmd := &cobra.Command{
		Use:   "run [-c events.yml]",
		Short: "Run the daemon",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runDaemon(cmd.Context(), &flags)
		},
	}
	flags.register(cmd)
	return cmd
}
