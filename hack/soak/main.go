// Command soak is docker-eventsd's fault-injection soak. It runs the daemon
// against real engines (hack/engines.sh) through fault-injecting TCP proxies
// and breaks everything it can at random, then compares what the handlers
// recorded with what really happened.
//
// Mode chaos (the default): containers are run, created, started, killed,
// stopped, restarted, renamed and removed at random; engines are SIGKILLed
// and started again; the proxies reset, refuse, stall and delay connections;
// the daemon itself is SIGKILLed and started again (with --state-dir when the
// daemon has it); handlers fail at random (exit 1) and hang past their timeout.
// With -fakes N, N fake engines (hack/fakeengine, served by this process) join
// the cluster and emit -fake-rate events per second during the faults, for
// volume: a log-only rule takes their kills, the ledger ignores them, and the
// soak fails if they dropped any event for the daemon (dockerd's 100 ms rule:
// the daemon's reader stalled).
// The truth is the engines' own view: the soak inspects every container after
// each of its actions and after each engine restart, and a new StartedAt is a
// start, a new FinishedAt a die, a 404 a destroy. Three rules record every
// start, die and destroy they complete in a ledger file; each rule's
// deliveries are matched with the transitions, container by container, in
// order. The report counts what was expected, delivered (and of that,
// synthesized), lost, replayed (at-least-once) and unexplained; the exit
// status is 0 only when nothing was lost and nothing is unexplained.
//
// Mode slow: every worker is kept busy by slow handlers while the soak makes
// one engine emit events as fast as it can (target -rate per second, `docker
// kill -s USR1` or, with -slow-action rename, renames, on many containers);
// the daemon must receive every one.
//
// It needs root and the engines of hack/engines.sh; hack/soak/soak.sh starts
// them (EVENTSD_ENGINES_DIR=/tmp/eventsd-soak, engines p q r), builds the
// daemon and runs this command. test/soak runs a short chaos soak in CI.
package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	var c options
	flag.StringVar(&c.mode, "mode", "chaos", "chaos, or slow (slow consumers under an event flood)")
	flag.StringVar(&c.enginesDir, "engines-dir", os.Getenv("EVENTSD_ENGINES_DIR"), "EVENTSD_ENGINES_DIR of the soak's engines (hack/engines.sh up ...): DIR/env describes them")
	flag.StringVar(&c.daemonBin, "daemon", "", "docker-eventsd binary (required)")
	flag.StringVar(&c.work, "work", "", "directory for the config, the ledger, the daemon logs and the report (default: a new temporary one)")
	flag.StringVar(&c.report, "report", "", "write the JSON report here too")
	flag.DurationVar(&c.duration, "duration", 2*time.Minute, "how long to inject faults")
	flag.DurationVar(&c.actionEvery, "action-every", 700*time.Millisecond, "mean time between container actions, per engine")
	flag.DurationVar(&c.engineKillEvery, "engine-kill-every", 20*time.Second, "mean time between engine SIGKILLs (0: never)")
	flag.DurationVar(&c.engineDownMax, "engine-down-max", 8*time.Second, "longest time a killed engine stays down")
	flag.DurationVar(&c.daemonKillEvery, "daemon-kill-every", 3*time.Minute, "mean time between daemon SIGKILLs (0: never)")
	flag.DurationVar(&c.faultEvery, "fault-every", 6*time.Second, "mean time between proxy faults (0: never)")
	flag.DurationVar(&c.faultMax, "fault-max", 4*time.Second, "longest proxy fault")
	flag.DurationVar(&c.settle, "settle", 2*time.Minute, "at the end, how long to wait for the handlers to catch up")
	flag.StringVar(&c.stateDir, "state-dir", "auto", "auto (use --state-dir when the daemon has it), or off")
	flag.DurationVar(&c.checkpointSlack, "checkpoint-slack", 5*time.Second, "with --state-dir: how old the daemon's last checkpoint may be when it is killed")
	flag.IntVar(&c.workers, "workers", 8, "the daemon's --workers")
	flag.IntVar(&c.minCtrs, "min-containers", 3, "containers per engine the soak keeps at least")
	flag.IntVar(&c.maxCtrs, "max-containers", 8, "containers per engine the soak keeps at most")
	flag.Int64Var(&c.seed, "seed", 0, "random seed (0: from the clock)")
	flag.IntVar(&c.fakes, "fakes", 0, "chaos mode: fake engines (hack/fakeengine, in process, fake0...) added to the cluster for volume; the soak fails if they drop any event for the daemon (0: none)")
	flag.Float64Var(&c.fakeRate, "fake-rate", 2000, "chaos mode: events per second emitted by the fake engines in total, during the faults")
	flag.IntVar(&c.rate, "rate", 1000, "slow mode: events per second to make the engine emit")
	flag.IntVar(&c.slowContainers, "slow-containers", 32, "slow mode: containers that receive the signals")
	flag.StringVar(&c.slowEngine, "slow-engine", "", "slow mode: the engine (default: the first)")
	flag.StringVar(&c.slowURL, "slow-url", "", "slow mode: an engine URL to use instead of the soak's engines (e.g. hack/fakeengine)")
	flag.StringVar(&c.slowAction, "slow-action", "kill", "slow mode: kill (docker kill -s USR1) or rename (cheaper for the engine)")
	flag.StringVar(&c.slowStats, "slow-stats", "", "slow mode: a hack/fakeengine /fake/stats URL, for the events the engine dropped")
	reanalyze := flag.String("reanalyze", "", "compare again the ledger of an earlier chaos soak's work directory (report.json, truth.json, ledger.txt), with this version of the comparison, and print the counts")
	flag.Parse()
	if *reanalyze != "" {
		if err := reanalyzeDir(*reanalyze, c.checkpointSlack); err != nil {
			log.Fatal(err)
		}
		return
	}
	if c.daemonBin == "" {
		log.Fatal("soak: -daemon is required")
	}
	if c.slowAction != "kill" && c.slowAction != "rename" {
		log.Fatalf("soak: -slow-action %q: want kill or rename", c.slowAction)
	}
	if c.seed == 0 {
		c.seed = time.Now().UnixNano()
	}
	if c.work == "" {
		dir, err := os.MkdirTemp("", "eventsd-soak-work")
		if err != nil {
			log.Fatal(err)
		}
		c.work = dir
	}
	if err := os.MkdirAll(c.work, 0o755); err != nil {
		log.Fatal(err)
	}
	bin, err := filepath.Abs(c.daemonBin)
	if err != nil {
		log.Fatal(err)
	}
	c.daemonBin = bin

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	logger := log.New(os.Stdout, "soak: ", log.Ltime|log.Lmicroseconds)

	var ok bool
	switch c.mode {
	case "chaos":
		ok, err = runChaos(ctx, &c, logger)
	case "slow":
		ok, err = runSlow(ctx, &c, logger)
	default:
		err = fmt.Errorf("-mode %q: want chaos or slow", c.mode)
	}
	if err != nil {
		logger.Printf("error: %v", err)
		os.Exit(2)
	}
	if !ok {
		logger.Printf("FAIL (work directory %s)", c.work)
		os.Exit(1)
	}
	logger.Printf("PASS (work directory %s)", c.work)
}

// options are the command's flags.
type options struct {
	mode            string
	enginesDir      string
	daemonBin       string
	work            string
	report          string
	duration        time.Duration
	actionEvery     time.Duration
	engineKillEvery time.Duration
	engineDownMax   time.Duration
	daemonKillEvery time.Duration
	faultEvery      time.Duration
	faultMax        time.Duration
	settle          time.Duration
	stateDir        string
	checkpointSlack time.Duration
	workers         int
	minCtrs         int
	maxCtrs         int
	seed            int64
	fakes           int
	fakeRate        float64
	rate            int
	slowContainers  int
	slowEngine      string
	slowURL         string
	slowStats       string
	slowAction      string
}

// engineEnv is what hack/engines.sh wrote in $EVENTSD_ENGINES_DIR/env.
type engineEnv struct {
	names []string
	urls  map[string]string
	image string
	ctl   string
	dir   string
}

func readEngineEnv(dir string) (*engineEnv, error) {
	if dir == "" {
		return nil, fmt.Errorf("no engines: set -engines-dir or EVENTSD_ENGINES_DIR (hack/engines.sh up p q r)")
	}
	f, err := os.Open(filepath.Join(dir, "env"))
	if err != nil {
		return nil, fmt.Errorf("engines: %w (run EVENTSD_ENGINES_DIR=%s hack/engines.sh up p q r)", err, dir)
	}
	defer f.Close()
	env := &engineEnv{urls: map[string]string{}, dir: dir, image: "eventsd-busybox:latest"}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimSpace(sc.Text()), "=")
		if !ok {
			continue
		}
		switch k {
		case "EVENTSD_TEST_ENGINES":
			for _, kv := range strings.Split(v, ",") {
				name, url, ok := strings.Cut(kv, "=")
				if ok {
					env.names = append(env.names, name)
					env.urls[name] = url
				}
			}
		case "EVENTSD_TEST_IMAGE":
			env.image = v
		case "EVENTSD_TEST_ENGINECTL":
			env.ctl = v
		}
	}
	if len(env.names) == 0 || env.ctl == "" {
		return nil, fmt.Errorf("engines: %s/env lists no engines or no EVENTSD_TEST_ENGINECTL", dir)
	}
	return env, sc.Err()
}

// engineCtl runs hack/engines.sh VERB NAME on the soak's engines.
func (e *engineEnv) engineCtl(ctx context.Context, verb, name string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, e.ctl, verb, name)
	cmd.Env = append(os.Environ(), "EVENTSD_ENGINES_DIR="+e.dir)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("engines.sh %s %s: %w: %s", verb, name, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// writeJSON writes v, indented, to path.
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
