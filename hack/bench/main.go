// Command bench measures docker-eventsd: dispatch latency (P1), ingest (P2),
// handler throughput (P3), scale (P4) and recovery (P5), each against a
// baseline measured in the same run. hack/bench.sh runs it with the real
// binaries and a real engine; docs/BENCHMARKS.md has the method and results.
//
//	go run ./hack/bench -run p2,p4 -daemon bin/docker-eventsd -fakeengine bin/fakeengine
//	go run ./hack/bench -quick          # everything in process, on fakes, in seconds
//
// Without -daemon the daemon's components run in the bench's process; without
// -fakeengine the fake engines do; without -engine, P1 and P5 use a fake
// engine instead of a real one.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/samalba/docker-eventsd/hack/fakeengine"
)

// benchEnv is what every benchmark needs: where things are, and the sizes.
type benchEnv struct {
	Work          string
	DaemonBin     string
	FakeBin       string
	Engine        string // a real engine's URL, or ""
	EngineName    string // its name for EngineCtl (kill/start)
	EngineCtl     string // hack/engines.sh
	Image         string
	out           io.Writer
	fakeForEngine fakes

	P1Events int
	P1Gap    time.Duration

	P2Engines, P2Containers int
	P2Rates                 []float64
	P2Duration              time.Duration
	P2Mix                   fakeengine.Mix
	CPUProfile              string

	P3Workers  int
	P3Duration time.Duration
	P3Rate     float64

	P4Engines, P4Containers int
	// ProcEnv is extra environment of the daemon binary (GOMEMLIMIT...).
	ProcEnv []string
	// LogMode is the in-process daemon's logging what-if ("" or "buffered").
	LogMode string
	// Verbosity is -v of the daemon in P2 and P4.
	Verbosity int
	// Settle is how long benchmarks let things settle between steps.
	Settle time.Duration

	P5Trials    int
	P5Heartbeat time.Duration
}

// summaryRow is one line of the summary table.
type summaryRow struct {
	ID       string  `json:"id"`
	Metric   string  `json:"metric"`
	Measured string  `json:"measured"`
	Baseline string  `json:"baseline"`
	Ratio    float64 `json:"ratio,omitempty"`
	Target   string  `json:"target"`
	Met      string  `json:"met"`
}

// verdict says whether a target is met; a measurement on a fake engine, or
// of a daemon in the bench's process where it matters, is only indicative.
func verdict(ok bool, where string) string {
	s := "no"
	if ok {
		s = "yes"
	}
	switch {
	case strings.HasPrefix(where, "fake"):
		s += " (fake engine)"
	case where != "" && !strings.HasPrefix(where, "real"):
		s += " (" + where + ")"
	}
	return s
}

var logOut io.Writer = os.Stderr

func logf(format string, args ...any) {
	fmt.Fprintf(logOut, "bench: "+format+"\n", args...)
}

func (env *benchEnv) subdir(name string) (string, error) {
	d := filepath.Join(env.Work, name)
	return d, os.MkdirAll(d, 0o755)
}

// table prints a markdown table with a title.
func (env *benchEnv) table(title string, rows [][]string) {
	fmt.Fprintf(env.out, "\n#### %s\n\n", title)
	for i, r := range rows {
		fmt.Fprintf(env.out, "| %s |\n", strings.Join(r, " | "))
		if i == 0 {
			seps := make([]string, len(r))
			for j := range seps {
				seps[j] = "---"
			}
			fmt.Fprintf(env.out, "| %s |\n", strings.Join(seps, " | "))
		}
	}
}

// realOrFake returns the engine P1/P5 use: the real one, or a fake engine of
// the bench's (started once).
func (env *benchEnv) realOrFake(bench string) (url, image, where string) {
	if env.Engine != "" {
		return env.Engine, env.Image, "real engine " + env.Engine
	}
	if env.fakeForEngine == nil {
		f, err := startFakes("", fakeengine.Options{Engines: 1})
		if err != nil {
			panic(err)
		}
		env.fakeForEngine = f
	}
	return env.fakeForEngine.URLs()[0], "bench/app:1", "fake engine (no -engine)"
}

// variant describes what differs from the daemon as shipped, or "".
func (env *benchEnv) variant() string {
	var v []string
	if len(env.ProcEnv) > 0 {
		v = append(v, strings.Join(env.ProcEnv, " "))
	}
	if env.LogMode != "" {
		v = append(v, "log "+env.LogMode)
	}
	if env.Verbosity != 0 {
		v = append(v, fmt.Sprintf("-v %d", env.Verbosity))
	}
	if strings.Contains(env.DaemonBin, "jsonv2") {
		v = append(v, "built with GOEXPERIMENT=jsonv2")
	}
	if len(v) == 0 {
		return ""
	}
	return "; " + strings.Join(v, ", ")
}

// kind describes how the daemon runs.
func (d *daemon) kind() string {
	if d.InProcess() {
		return "in process"
	}
	return "binary"
}

func main() {
	runStampIfAsked()
	env, which, outJSON, err := parseArgs(os.Args[1:])
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	rows, err := runBenches(ctx, env, which)
	if outJSON != "" {
		b, _ := json.MarshalIndent(rows, "", "  ")
		_ = os.WriteFile(outJSON, b, 0o644)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func parseArgs(args []string) (*benchEnv, []string, string, error) {
	fs := flag.NewFlagSet("bench", flag.ContinueOnError)
	env := &benchEnv{out: os.Stdout, Settle: time.Second}
	run := fs.String("run", "p1,p2,p3,p4,p5", "benchmarks to run")
	quick := fs.Bool("quick", false, "tiny sizes: checks the harness in seconds, says nothing about speed")
	outJSON := fs.String("json", "", "write the summary rows as JSON to this file")
	rates := fs.String("p2-rates", "25000,50000,75000,100000,125000,150000,175000,200000,250000", "P2: event rates to try, ascending (events/s emitted by all engines)")
	mix := fs.String("p2-mix", "start=1,die=1,kill=4,health_status=2,exec=1", "P2: event mix")
	fs.StringVar(&env.Work, "work", "", "working directory (default: a new temporary one)")
	fs.StringVar(&env.DaemonBin, "daemon", "", "docker-eventsd binary (default: run the daemon's components in process)")
	fs.StringVar(&env.FakeBin, "fakeengine", "", "fakeengine binary (default: fake engines in process)")
	fs.StringVar(&env.Engine, "engine", "", "a real engine for P1 and P5 (tcp://...); default: a fake engine")
	fs.StringVar(&env.EngineName, "engine-name", "", "P5: the engine's name for -enginectl kill/start")
	fs.StringVar(&env.EngineCtl, "enginectl", "", "P5: hack/engines.sh (with EVENTSD_ENGINES_DIR in the environment)")
	fs.StringVar(&env.Image, "image", "eventsd-busybox:latest", "image on the real engine (busybox sh)")
	fs.IntVar(&env.P1Events, "p1-events", 500, "P1: events per side")
	fs.DurationVar(&env.P1Gap, "p1-gap", 20*time.Millisecond, "P1: time between kills (plus up to half of it at random)")
	fs.IntVar(&env.P2Engines, "p2-engines", 100, "P2: fake engines")
	fs.IntVar(&env.P2Containers, "p2-containers", 100, "P2: containers per engine")
	fs.DurationVar(&env.P2Duration, "p2-duration", 10*time.Second, "P2: time at each rate")
	fs.StringVar(&env.CPUProfile, "cpuprofile", "", "P2: write a CPU profile of the highest rate (in-process daemon only)")
	fs.IntVar(&env.P3Workers, "p3-workers", 4, "P3: --workers, and the baseline's concurrency")
	fs.DurationVar(&env.P3Duration, "p3-duration", 10*time.Second, "P3: measured time of each run")
	fs.Float64Var(&env.P3Rate, "p3-rate", 0, "P3: events per second offered, more than the handlers can take (0: 1.25 times the raw sh -c rate measured first)")
	fs.IntVar(&env.P4Engines, "p4-engines", 1000, "P4: fake engines")
	fs.IntVar(&env.P4Containers, "p4-containers", 100, "P4: containers per engine")
	procEnv := fs.String("daemon-env", "", "P2, P4: extra environment of the daemon binary, comma-separated (GOMEMLIMIT=150MiB,GOGC=50)")
	fs.StringVar(&env.LogMode, "log-mode", "", "P2, P4 in process, what-if: \"buffered\" logs through a buffer, not one write per line")
	fs.IntVar(&env.Verbosity, "verbosity", 0, "P2, P4: -v of the daemon (what-if: 1 logs every uncaught event, as before 2026-11-27)")
	fs.IntVar(&env.P5Trials, "p5-trials", 3, "P5: trials of each scenario")
	fs.DurationVar(&env.P5Heartbeat, "p5-heartbeat", 5*time.Second, "P5: --heartbeat of the blackhole runs")
	if err := fs.Parse(args); err != nil {
		return nil, nil, "", err
	}
	if *quick {
		env.P1Events, env.P1Gap = 20, 5*time.Millisecond
		env.P2Engines, env.P2Containers, env.P2Duration, *rates = 5, 10, 500*time.Millisecond, "2000"
		env.P3Duration, env.P3Rate = 500*time.Millisecond, 500
		env.P4Engines, env.P4Containers = 20, 10
		env.P5Trials, env.P5Heartbeat = 1, 300*time.Millisecond
		env.Settle = 100 * time.Millisecond
	}
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
	return env, strings.Split(*run, ","), *outJSON, nil
}

// runBenches runs the named benchmarks and prints their tables, then the
// summary.
func runBenches(ctx context.Context, env *benchEnv, which []string) ([]summaryRow, error) {
	if env.Work == "" {
		d, err := os.MkdirTemp("", "eventsd-bench")
		if err != nil {
			return nil, err
		}
		env.Work = d
	}
	defer func() {
		if env.fakeForEngine != nil {
			_ = env.fakeForEngine.Close()
		}
	}()
	fmt.Fprintf(env.out, "### Run of %s\n\n%s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine(env))
	benches := map[string]func(context.Context, *benchEnv) ([]summaryRow, error){
		"p1": benchP1, "p2": benchP2, "p3": benchP3, "p4": benchP4, "p5": benchP5,
	}
	var rows []summaryRow
	var errs []error
	for _, w := range which {
		w = strings.ToLower(strings.TrimSpace(w))
		f := benches[w]
		if f == nil {
			return rows, fmt.Errorf("unknown benchmark %q (p1..p5)", w)
		}
		if ctx.Err() != nil {
			break
		}
		start := time.Now()
		r, err := f(ctx, env)
		logf("%s done in %v", strings.ToUpper(w), time.Since(start).Round(time.Second))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", strings.ToUpper(w), err))
			rows = append(rows, summaryRow{ID: strings.ToUpper(w), Metric: "error", Measured: err.Error(), Met: "no"})
			continue
		}
		rows = append(rows, r...)
	}
	t := [][]string{{"", "metric", "measured", "baseline (same run)", "ratio", "target", "met"}}
	for _, r := range rows {
		ratio := ""
		if r.Ratio != 0 {
			ratio = strconv.FormatFloat(r.Ratio, 'f', 2, 64) + "×"
		}
		t = append(t, []string{r.ID, r.Metric, r.Measured, r.Baseline, ratio, r.Target, r.Met})
	}
	env.table("Summary", t)
	return rows, errors.Join(errs...)
}

// machine describes the machine and the method in a line or two.
func machine(env *benchEnv) string {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		f := strings.Fields(string(b))
		if len(f) > 1 {
			if kb, err := strconv.ParseInt(f[1], 10, 64); err == nil {
				mem = fmt.Sprintf("%.0f GiB", float64(kb)/(1<<20))
			}
		}
	}
	kernel := "?"
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		kernel = strings.TrimSpace(string(b))
	}
	daemon := "in process (the components of `docker-eventsd run`, same process as the bench)"
	if env.DaemonBin != "" {
		daemon = "binary " + env.DaemonBin
	}
	fakes := "in the bench's process"
	if env.FakeBin != "" {
		fakes = "separate process " + env.FakeBin
	}
	engine := "a fake engine"
	if env.Engine != "" {
		engine = env.Engine
	}
	return fmt.Sprintf("Machine: %d CPUs (%s), %s RAM, Linux %s, %s/%s, %s.  \nDaemon: %s. Fake engines: %s. P1/P5 engine: %s.\n",
		runtime.NumCPU(), cpu, mem, kernel, runtime.GOOS, runtime.GOARCH, runtime.Version(), daemon, fakes, engine)
}
