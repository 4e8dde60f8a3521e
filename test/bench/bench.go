// Package bench measures docker-eventsd: dispatch latency (P1), ingest (P2),
// handler throughput (P3), scale (P4), recovery (P5) and hot reload (P6), each against a
// baseline measured in the same run. Its command, test/bench/cmd/bench,
// parses the flags and calls Run; hack/bench.sh runs that command with the
// real binaries and a real engine; docs/BENCHMARKS.md has the method and
// results.
//
//	go run ./test/bench/cmd/bench -run p2,p4 -daemon bin/docker-eventsd -fakeengine bin/fakeengine
//	go run ./test/bench/cmd/bench -quick   # everything in process, on fakes, in seconds
//
// Without Env.DaemonBin the daemon's components run in the bench's process;
// without Env.FakeBin the fake engines (internal/fakeengine) do; without
// Env.Engine, P1 and P5 use a fake engine instead of a real one.
package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"time"

	"github.com/samalba/docker-eventsd/internal/fakeengine"
)

// Env is what every benchmark needs: where things are, and the sizes.
type Env struct {
	Work       string
	DaemonBin  string
	FakeBin    string
	Engine     string // a real engine's URL, or ""
	EngineName string // its name for EngineCtl (kill/start)
	EngineCtl  string // hack/engines.sh
	Image      string
	// Out receives the tables (markdown).
	Out           io.Writer
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

	// P6: hot reload (p6.go).
	P6Engines, P6Trials int
	P6Rate              float64
	// P7 (p7.go): fixed tcp targets checked at P7Rate checks/s in all, and
	// containers with an http monitor each checked every second.
	P7Targets, P7Containers int
	P7Rate                  float64
	P7Duration              time.Duration
}

// SummaryRow is one line of the summary table.
type SummaryRow struct {
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

func (env *Env) subdir(name string) (string, error) {
	d := filepath.Join(env.Work, name)
	return d, os.MkdirAll(d, 0o755)
}

// table prints a markdown table with a title.
func (env *Env) table(title string, rows [][]string) {
	fmt.Fprintf(env.Out, "\n#### %s\n\n", title)
	for i, r := range rows {
		fmt.Fprintf(env.Out, "| %s |\n", strings.Join(r, " | "))
		if i == 0 {
			seps := make([]string, len(r))
			for j := range seps {
				seps[j] = "---"
			}
			fmt.Fprintf(env.Out, "| %s |\n", strings.Join(seps, " | "))
		}
	}
}

// realOrFake returns the engine P1/P5 use: the real one, or a fake engine of
// the bench's (started once).
func (env *Env) realOrFake(bench string) (url, image, where string) {
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
func (env *Env) variant() string {
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

// Defaults returns the sizes of a full run (those of docs/BENCHMARKS.md),
// printing to stdout; cmd/bench binds its flags to them.
func Defaults() *Env {
	return &Env{
		Out:          os.Stdout,
		Settle:       time.Second,
		Image:        "eventsd-busybox:latest",
		P1Events:     500,
		P1Gap:        20 * time.Millisecond,
		P2Engines:    100,
		P2Containers: 100,
		P2Rates:      []float64{25000, 50000, 75000, 100000, 125000, 150000, 175000, 200000, 250000},
		P2Duration:   10 * time.Second,
		P2Mix:        fakeengine.Mix{Start: 1, Die: 1, Kill: 4, Health: 2, Exec: 1},
		P3Workers:    4,
		P3Duration:   10 * time.Second,
		P4Engines:    1000,
		P4Containers: 100,
		P5Trials:     3,
		P5Heartbeat:  5 * time.Second,
		P6Engines:    1000,
		P6Trials:     20,
		P6Rate:       10000,
		P7Targets:    1000,
		P7Containers: 1000,
		P7Rate:       10000,
		P7Duration:   10 * time.Second,
	}
}

// Quick sets tiny sizes: a run checks the harness in seconds and says
// nothing about speed.
func (env *Env) Quick() {
	env.P1Events, env.P1Gap = 20, 5*time.Millisecond
	env.P2Engines, env.P2Containers, env.P2Duration, env.P2Rates = 5, 10, 500*time.Millisecond, []float64{2000}
	env.P3Duration, env.P3Rate = 500*time.Millisecond, 500
	env.P4Engines, env.P4Containers = 20, 10
	env.P5Trials, env.P5Heartbeat = 1, 300*time.Millisecond
	env.P6Engines, env.P6Trials, env.P6Rate = 20, 2, 500
	env.P7Targets, env.P7Containers, env.P7Rate, env.P7Duration = 20, 20, 200, 500*time.Millisecond
	env.Settle = 100 * time.Millisecond
}

// Run runs the named benchmarks and prints their tables, then the
// summary.
func Run(ctx context.Context, env *Env, which []string) ([]SummaryRow, error) {
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
	fmt.Fprintf(env.Out, "### Run of %s\n\n%s\n", time.Now().UTC().Format("2006-01-02 15:04 MST"), machine(env))
	benches := map[string]func(context.Context, *Env) ([]SummaryRow, error){
		"p1": benchP1, "p2": benchP2, "p3": benchP3, "p4": benchP4, "p5": benchP5, "p6": benchP6, "p7": benchP7,
		"d1": benchD1, // opt-in (-run d1): needs EVENTSD_TEST_ETCD (discovery.go)
	}
	var rows []SummaryRow
	var errs []error
	for _, w := range which {
		w = strings.ToLower(strings.TrimSpace(w))
		f := benches[w]
		if f == nil {
			return rows, fmt.Errorf("unknown benchmark %q (p1..p6)", w)
		}
		if ctx.Err() != nil {
			break
		}
		start := time.Now()
		r, err := f(ctx, env)
		logf("%s done in %v", strings.ToUpper(w), time.Since(start).Round(time.Second))
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", strings.ToUpper(w), err))
			rows = append(rows, SummaryRow{ID: strings.ToUpper(w), Metric: "error", Measured: err.Error(), Met: "no"})
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
func machine(env *Env) string {
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
