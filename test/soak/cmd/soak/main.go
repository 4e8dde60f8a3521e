// Command soak runs docker-eventsd's fault-injection soak (package soak,
// docs/RELIABILITY.md): it parses the flags into soak.Options and calls
// soak.Run. hack/soak.sh starts the soak's engines, builds the daemon and
// runs it; `go run ./test/soak/cmd/soak -h` lists the flags. The exit status
// is 0 when the soak passed, 1 when it failed, 2 when it could not run.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/samalba/docker-eventsd/test/soak"
)

func main() {
	var o soak.Options
	flag.StringVar(&o.Mode, "mode", "chaos", "chaos, or slow (slow consumers under an event flood)")
	flag.StringVar(&o.EnginesDir, "engines-dir", os.Getenv("EVENTSD_ENGINES_DIR"), "EVENTSD_ENGINES_DIR of the soak's engines (hack/engines.sh up ...): DIR/env describes them")
	flag.StringVar(&o.DaemonBin, "daemon", "", "docker-eventsd binary (required)")
	flag.StringVar(&o.Work, "work", "", "directory for the config, the ledger, the daemon logs and the report (default: a new temporary one)")
	flag.StringVar(&o.Report, "report", "", "write the JSON report here too")
	flag.DurationVar(&o.Duration, "duration", 2*time.Minute, "how long to inject faults")
	flag.DurationVar(&o.ActionEvery, "action-every", 700*time.Millisecond, "mean time between container actions, per engine")
	flag.DurationVar(&o.EngineKillEvery, "engine-kill-every", 20*time.Second, "mean time between engine SIGKILLs (0: never)")
	flag.DurationVar(&o.EngineDownMax, "engine-down-max", 8*time.Second, "longest time a killed engine stays down")
	flag.DurationVar(&o.DaemonKillEvery, "daemon-kill-every", 3*time.Minute, "mean time between daemon SIGKILLs (0: never)")
	flag.DurationVar(&o.FaultEvery, "fault-every", 6*time.Second, "mean time between proxy faults (0: never)")
	flag.DurationVar(&o.FaultMax, "fault-max", 4*time.Second, "longest proxy fault")
	flag.DurationVar(&o.Settle, "settle", 2*time.Minute, "at the end, how long to wait for the handlers to catch up")
	flag.StringVar(&o.StateDir, "state-dir", "auto", "auto (use --state-dir when the daemon has it), or off")
	flag.DurationVar(&o.CheckpointSlack, "checkpoint-slack", 5*time.Second, "with --state-dir: how old the daemon's last checkpoint may be when it is killed")
	flag.IntVar(&o.Workers, "workers", 8, "the daemon's --workers")
	flag.IntVar(&o.MinCtrs, "min-containers", 3, "containers per engine the soak keeps at least")
	flag.IntVar(&o.MaxCtrs, "max-containers", 8, "containers per engine the soak keeps at most")
	flag.Int64Var(&o.Seed, "seed", 0, "random seed (0: from the clock)")
	flag.IntVar(&o.Fakes, "fakes", 0, "chaos mode: fake engines (internal/fakeengine, in process, fake0...) added to the cluster for volume; the soak fails if they drop any event for the daemon (0: none)")
	flag.Float64Var(&o.FakeRate, "fake-rate", 2000, "chaos mode: events per second emitted by the fake engines in total, during the faults")
	flag.IntVar(&o.ReloadStorm, "reload-storm", 0, "chaos mode: reloads in a row, once, during the faults: valid ones that restart every engine (their event filters change), invalid ones refused, by SIGHUP and by the file watcher (0: none)")
	flag.IntVar(&o.Rate, "rate", 1000, "slow mode: events per second to make the engine emit")
	flag.IntVar(&o.SlowContainers, "slow-containers", 32, "slow mode: containers that receive the signals")
	flag.StringVar(&o.SlowEngine, "slow-engine", "", "slow mode: the engine (default: the first)")
	flag.StringVar(&o.SlowURL, "slow-url", "", "slow mode: an engine URL to use instead of the soak's engines (e.g. internal/fakeengine)")
	flag.StringVar(&o.SlowAction, "slow-action", "kill", "slow mode: kill (docker kill -s USR1) or rename (cheaper for the engine)")
	flag.StringVar(&o.SlowStats, "slow-stats", "", "slow mode: a internal/fakeengine /fake/stats URL, for the events the engine dropped")
	reanalyze := flag.String("reanalyze", "", "compare again the ledger of an earlier chaos soak's work directory (report.json, truth.json, ledger.txt), with this version of the comparison, and print the counts")
	flag.Parse()
	if *reanalyze != "" {
		if err := soak.Reanalyze(*reanalyze, o.CheckpointSlack); err != nil {
			log.Fatal(err)
		}
		return
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := log.New(os.Stdout, "soak: ", log.Ltime|log.Lmicroseconds)
	ok, err := soak.Run(ctx, o, logger)
	if err != nil {
		logger.Printf("error: %v", err)
		os.Exit(2)
	}
	if !ok {
		os.Exit(1)
	}
}
