// Command bench runs the benchmarks of package bench (docs/BENCHMARKS.md):
// it parses the flags into a bench.Env and calls bench.Run. hack/bench.sh
// (make bench) builds and runs it with the real binaries and a real engine.
//
//	go run ./test/bench/cmd/bench -run p2,p4 -daemon bin/docker-eventsd -fakeengine bin/fakeengine
//	go run ./test/bench/cmd/bench -quick   # everything in process, on fakes, in seconds
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/samalba/docker-eventsd/internal/fakeengine"
	"github.com/samalba/docker-eventsd/test/bench"
)

func main() {
	bench.RunStampIfAsked()     // the Go stamp: this binary re-executed by a handler
	bench.RunListenersIfAsked() // P7's listeners: this binary re-executed by the bench
	env, which, outJSON, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rows, err := bench.Run(ctx, env, which)
	if outJSON != "" {
		b, _ := json.MarshalIndent(rows, "", "  ")
		_ = os.WriteFile(outJSON, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// parseArgs returns the environment, the benchmarks to run and the JSON
// output file.
func parseArgs(args []string) (*bench.Env, []string, string, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	env := bench.Defaults()
	run := fs.String("run", "p1,p2,p3,p4,p5,p6,p7", "benchmarks to run")
	quick := fs.Bool("quick", false, "tiny sizes: checks the harness in seconds, says nothing about speed")
	outJSON := fs.String("json", "", "write the summary rows as JSON to this file")
	rates := fs.String("p2-rates", formatRates(env.P2Rates), "P2: event rates to try, ascending (events/s emitted by all engines)")
	mix := fs.String("p2-mix", env.P2Mix.String(), "P2: event mix")
	fs.StringVar(&env.Work, "work", "", "working directory (default: a new temporary one)")
	fs.StringVar(&env.DaemonBin, "daemon", "", "docker-eventsd binary (default: run the daemon's components in process)")
	fs.StringVar(&env.FakeBin, "fakeengine", "", "fakeengine binary (default: fake engines in process)")
	fs.StringVar(&env.Engine, "engine", "", "a real engine for P1 and P5 (tcp://...); default: a fake engine")
	fs.StringVar(&env.EngineName, "engine-name", "", "P5: the engine's name for -enginectl kill/start")
	fs.StringVar(&env.EngineCtl, "enginectl", "", "P5: hack/engines.sh (with EVENTSD_ENGINES_DIR in the environment)")
	fs.StringVar(&env.Image, "image", env.Image, "image on the real engine (busybox sh)")
	fs.IntVar(&env.P1Events, "p1-events", env.P1Events, "P1: events per side")
	fs.DurationVar(&env.P1Gap, "p1-gap", env.P1Gap, "P1: time between kills (plus up to half of it at random)")
	fs.IntVar(&env.P2Engines, "p2-engines", env.P2Engines, "P2: fake engines")
	fs.IntVar(&env.P2Containers, "p2-containers", env.P2Containers, "P2: containers per engine")
	fs.DurationVar(&env.P2Duration, "p2-duration", env.P2Duration, "P2: time at each rate")
	fs.StringVar(&env.CPUProfile, "cpuprofile", "", "P2: write a CPU profile of the highest rate (in-process daemon only)")
	fs.IntVar(&env.P3Workers, "p3-workers", env.P3Workers, "P3: --workers, and the baseline's concurrency")
	fs.DurationVar(&env.P3Duration, "p3-duration", env.P3Duration, "P3: measured time of each run")
	fs.Float64Var(&env.P3Rate, "p3-rate", 0, "P3: events per second offered, more than the handlers can take (0: 1.25 times the raw sh -c rate measured first)")
	fs.IntVar(&env.P4Engines, "p4-engines", env.P4Engines, "P4: fake engines")
	fs.IntVar(&env.P4Containers, "p4-containers", env.P4Containers, "P4: containers per engine")
	fs.IntVar(&env.P6Engines, "p6-engines", env.P6Engines, "P6: fake engines of the reloaded config")
	fs.IntVar(&env.P6Trials, "p6-trials", env.P6Trials, "P6: reloads that change an engine and a rule (each after a baseline reload)")
	fs.Float64Var(&env.P6Rate, "p6-rate", env.P6Rate, "P6: events/s emitted by all engines together during the reloads")
	procEnv := fs.String("daemon-env", "", "P2, P4: extra environment of the daemon binary, comma-separated (GOMEMLIMIT=150MiB,GOGC=50)")
	fs.StringVar(&env.LogMode, "log-mode", "", "P2, P4 in process, what-if: \"buffered\" logs through a buffer, not one write per line")
	fs.IntVar(&env.Verbosity, "verbosity", 0, "P2, P4: -v of the daemon (what-if: 1 logs every uncaught event, as before 2026-11-27)")
	fs.IntVar(&env.P5Trials, "p5-trials", env.P5Trials, "P5: trials of each scenario")
	fs.DurationVar(&env.P5Heartbeat, "p5-heartbeat", env.P5Heartbeat, "P5: --heartbeat of the blackhole runs")
	fs.IntVar(&env.P7Targets, "p7-targets", env.P7Targets, "P7: fixed tcp targets (at most 1,040)")
	fs.Float64Var(&env.P7Rate, "p7-rate", env.P7Rate, "P7: tcp checks per second of all targets together")
	fs.IntVar(&env.P7Containers, "p7-containers", env.P7Containers, "P7: containers, each with an http monitor checked every second")
	fs.DurationVar(&env.P7Duration, "p7-duration", env.P7Duration, "P7: measured time of each window")
	if err := fs.Parse(args); err != nil {
		return nil, nil, "", err
	}
	env.P2Rates = nil
	for _, r := range strings.Split(*rates, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(r), 64)
		if err != nil || v <= 0 {
			return nil, nil, "", fmt.Errorf("-p2-rates: bad rate %q", r)
		}
		env.P2Rates = append(env.P2Rates, v)
	}
	if *procEnv != "" {
		env.ProcEnv = strings.Split(*procEnv, ",")
	}
	m, err := fakeengine.ParseMix(*mix)
	if err != nil {
		return nil, nil, "", err
	}
	env.P2Mix = m
	if *quick {
		env.Quick()
	}
	return env, strings.Split(*run, ","), *outJSON, nil
}

func formatRates(rates []float64) string {
	s := make([]string, len(rates))
	for i, r := range rates {
		s[i] = strconv.FormatFloat(r, 'f', -1, 64)
	}
	return strings.Join(s, ",")
}
