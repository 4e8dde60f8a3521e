// Package soak is docker-eventsd's fault-injection soak. It runs the daemon
// against real engines (hack/engines.sh) through fault-injecting TCP proxies
// and breaks everything it can at random, then compares what the handlers
// recorded with what really happened.
//
// Mode chaos (the default): containers are run, created, started, killed,
// stopped, restarted, renamed and removed at random; engines are SIGKILLed
// and started again; the proxies reset, refuse, stall and delay connections;
// the daemon itself is SIGKILLed and started again (with --state-dir when the
// daemon has it); handlers fail at random (exit 1) and hang past their timeout.
// With -fakes N, N fake engines (internal/fakeengine, served by this process) join
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
// It needs root and the engines of hack/engines.sh. Its command,
// test/soak/cmd/soak, parses the flags into Options and calls Run;
// hack/soak.sh starts the engines (EVENTSD_ENGINES_DIR=/tmp/eventsd-soak,
// engines p q r), builds the daemon and runs that command. The test of this
// package, TestShortChaosSoak, runs a short chaos soak in CI.
package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// Run runs the soak o.Mode ("chaos" or "slow") and reports whether it
// passed: nothing lost, nothing unexplained. An error is a soak that could
// not run. It fills in the defaults of o: a random seed from the clock, a
// new temporary work directory, the daemon binary's absolute path.
func Run(ctx context.Context, o Options, logger *log.Logger) (bool, error) {
	if o.DaemonBin == "" {
		return false, fmt.Errorf("soak: the daemon binary is required (-daemon)")
	}
	if o.SlowAction != "kill" && o.SlowAction != "rename" {
		return false, fmt.Errorf("soak: slow action %q: want kill or rename", o.SlowAction)
	}
	if o.Seed == 0 {
		o.Seed = time.Now().UnixNano()
	}
	if o.Work == "" {
		dir, err := os.MkdirTemp("", "eventsd-soak-work")
		if err != nil {
			return false, err
		}
		o.Work = dir
	}
	if err := os.MkdirAll(o.Work, 0o755); err != nil {
		return false, err
	}
	bin, err := filepath.Abs(o.DaemonBin)
	if err != nil {
		return false, err
	}
	o.DaemonBin = bin
	var ok bool
	switch o.Mode {
	case "chaos":
		ok, err = runChaos(ctx, &o, logger)
	case "slow":
		ok, err = runSlow(ctx, &o, logger)
	default:
		err = fmt.Errorf("-mode %q: want chaos or slow", o.Mode)
	}
	if err == nil {
		verdict := "PASS"
		if !ok {
			verdict = "FAIL"
		}
		logger.Printf("%s (work directory %s)", verdict, o.Work)
	}
	return ok, err
}

// Options are the soak's settings: cmd/soak sets them from its flags,
// where each is described.
type Options struct {
	// Mode is "chaos" (the default of cmd/soak) or "slow".
	Mode string
	// EnginesDir is the EVENTSD_ENGINES_DIR of the soak's engines: DIR/env describes them.
	EnginesDir string
	// DaemonBin is the docker-eventsd binary (required).
	DaemonBin string
	// Work holds the config, the ledger, the daemon logs and the report ("": a new temporary directory).
	Work string
	// Report, when set, receives the JSON report too.
	Report string
	// Duration is how long faults are injected.
	Duration time.Duration
	// ActionEvery is the mean time between container actions, per engine.
	ActionEvery time.Duration
	// EngineKillEvery is the mean time between engine SIGKILLs (0: never).
	EngineKillEvery time.Duration
	// EngineDownMax is the longest time a killed engine stays down.
	EngineDownMax time.Duration
	// DaemonKillEvery is the mean time between daemon SIGKILLs (0: never).
	DaemonKillEvery time.Duration
	// FaultEvery is the mean time between proxy faults (0: never).
	FaultEvery time.Duration
	// FaultMax is the longest proxy fault.
	FaultMax time.Duration
	// Settle is how long, at the end, the handlers get to catch up.
	Settle time.Duration
	// StateDir is "auto" (--state-dir when the daemon has it) or "off".
	StateDir string
	// CheckpointSlack is how old the daemon's last checkpoint may be when it is killed.
	CheckpointSlack time.Duration
	// Workers is the daemon's --workers.
	Workers int
	// MinCtrs and MaxCtrs bound the containers per engine the soak keeps.
	MinCtrs int
	MaxCtrs int
	// Seed seeds the randomness (0: from the clock).
	Seed int64
	// Fakes is the number of fake engines added for volume in chaos mode.
	Fakes int
	// FakeRate is the events per second the fake engines emit in total.
	FakeRate float64
	// ReloadStorm is the number of reloads in a row of the chaos mode's
	// reload storm (reload.go; 0: none).
	ReloadStorm int
	// Rate is the events per second slow mode makes the engine emit.
	Rate int
	// SlowContainers is the number of containers slow mode signals.
	SlowContainers int
	// SlowEngine is the engine of slow mode ("": the first).
	SlowEngine string
	// SlowURL is an engine URL slow mode uses instead of the soak's engines.
	SlowURL string
	// SlowStats is a fake engine's /fake/stats URL, for the events it dropped.
	SlowStats string
	// SlowAction is "kill" (docker kill -s USR1) or "rename".
	SlowAction string
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
