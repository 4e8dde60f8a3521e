package bench

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/monitor"
)

// P7: monitors. (a) 1,000 fixed tcp targets checked every 100 ms: 10,000
// connects a second to local listeners; (b) 1,000 containers of an engine's
// cache, each with an http monitor checked every second. The monitors'
// scheduler runs in the bench's process (it is what the daemon runs:
// monitor.Scheduler), the listeners in a child process of their own, so
// that getrusage(RUSAGE_SELF) counts the checks' CPU and not the
// listeners'. Baseline: the same process idle for the same time, measured
// in the same run. Jitter: how late each check starts after the time it was
// scheduled for.

// Ports of the listeners: P7 owns 24519 (http) and 24520-24599 (tcp), on
// 127.0.0.1 to 127.0.0.13: 80 × 13 = 1,040 distinct tcp addresses.
const (
	p7HTTPPort  = 24519
	p7TCPFirst  = 24520
	p7TCPPorts  = 80
	p7Loopbacks = 13
	// listenEnv makes the bench binary the listeners' process.
	listenEnv = "BENCH_LISTEN"
)

// RunListenersIfAsked is called first thing in main (and TestMain): with
// BENCH_LISTEN=N the process listens on N tcp addresses and the http port,
// prints "ready", and serves until its stdin closes.
func RunListenersIfAsked() {
	v := os.Getenv(listenEnv)
	if v == "" {
		return
	}
	n, _ := strconv.Atoi(v)
	for _, a := range p7Addresses(n) {
		ln, err := net.Listen("tcp", a)
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Close()
			}
		}()
	}
	srv := &http.Server{Addr: net.JoinHostPort("127.0.0.1", strconv.Itoa(p7HTTPPort)), Handler: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte("ok\n"))
	})}
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	go srv.Serve(ln)
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // until the bench closes it
	os.Exit(0)
}

// p7Addresses returns n distinct listener addresses.
func p7Addresses(n int) []string {
	out := make([]string, 0, n)
	for i := 0; i < n && i < p7TCPPorts*p7Loopbacks; i++ {
		ip := fmt.Sprintf("127.0.0.%d", 1+i/p7TCPPorts)
		out = append(out, net.JoinHostPort(ip, strconv.Itoa(p7TCPFirst+i%p7TCPPorts)))
	}
	return out
}

// startListeners runs the listeners' process (this binary again).
func startListeners(n int) (stop func(), err error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "-test.run=^$")
	cmd.Env = append(os.Environ(), listenEnv+"="+strconv.Itoa(n))
	in, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	stop = func() {
		in.Close()
		_ = cmd.Wait()
	}
	line, _ := bufio.NewReader(out).ReadString('\n')
	if strings.TrimSpace(line) != "ready" {
		stop()
		return nil, fmt.Errorf("listeners: %q", strings.TrimSpace(line))
	}
	return stop, nil
}

// rusageCPU returns the CPU time (user + system) of this process.
func rusageCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// p7Result is one measured window of the scheduler.
type p7Result struct {
	checks         int64
	rate, cores    float64
	idleCores      float64
	p50, p99, pmax time.Duration
	events         int64
}

// p7Cache is an engine's cache of n running containers, each naming its
// address by label.
type p7Cache struct{ list []*informer.Container }

func newP7Cache(n int) *p7Cache {
	c := &p7Cache{}
	for i := range n {
		c.list = append(c.list, &informer.Container{ID: fmt.Sprintf("c%05d", i), Engine: "fake", Name: fmt.Sprintf("web-%d", i),
			State: informer.StateRunning, Labels: map[string]string{monitor.LabelAddress: "127.0.0.1"}})
	}
	return c
}

func (c *p7Cache) List() []*informer.Container { return c.list }
func (c *p7Cache) Get(id string) *informer.Container {
	for _, ct := range c.list {
		if ct.ID == id {
			return ct
		}
	}
	return nil
}

type p7Engines []monitor.Engine

func (e p7Engines) MonitorEngines() []monitor.Engine { return e }

// p7Window runs a scheduler of opts, lets it settle, and measures checks,
// CPU and lateness over d; then the idle baseline over d.
func p7Window(ctx context.Context, opts monitor.Options, settle, d time.Duration) (p7Result, error) {
	var events atomic.Int64
	opts.Handler = informer.HandlerFunc(func(*informer.Event) { events.Add(1) })
	s, err := monitor.New(opts)
	if err != nil {
		return p7Result{}, err
	}
	h := newHistogram()
	var measuring atomic.Bool
	s.ObserveLateness(func(late time.Duration) {
		if measuring.Load() {
			h.add(late)
		}
	})
	rctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { s.Run(rctx); close(done) }()
	defer func() { cancel(); <-done }()
	time.Sleep(settle)
	measuring.Store(true)
	c0, cpu0, t0 := s.Checks(), rusageCPU(), time.Now()
	time.Sleep(d)
	c1, cpu1, el := s.Checks(), rusageCPU(), time.Since(t0)
	measuring.Store(false)
	cancel()
	<-done
	r := p7Result{checks: c1 - c0, rate: float64(c1-c0) / el.Seconds(), cores: (cpu1 - cpu0).Seconds() / el.Seconds(),
		p50: h.quantile(0.5), p99: h.quantile(0.99), pmax: h.quantile(1), events: events.Load()}
	// The baseline: the same process, idle, as long.
	time.Sleep(settle)
	i0, it0 := rusageCPU(), time.Now()
	time.Sleep(d)
	r.idleCores = (rusageCPU() - i0).Seconds() / time.Since(it0).Seconds()
	return r, nil
}

func benchP7(ctx context.Context, env *Env) ([]SummaryRow, error) {
	targets := env.P7Targets
	stop, err := startListeners(targets)
	if err != nil {
		return nil, err
	}
	defer stop()
	interval := time.Duration(float64(time.Second) * float64(targets) / env.P7Rate)
	tcp := config.Monitor{Name: "tcp", Kind: config.MonitorTCP, TCP: &config.TCPCheck{Port: p7TCPFirst},
		Targets: config.MonitorTargets{Addresses: p7Addresses(targets)}, Interval: interval, Timeout: min(interval, time.Second), Failures: 3, Successes: 1}
	a, err := p7Window(ctx, monitor.Options{Monitors: []config.Monitor{tcp}}, env.Settle+interval, env.P7Duration)
	if err != nil {
		return nil, err
	}
	web := config.Monitor{Name: "web", Kind: config.MonitorHTTP, Interval: time.Second, Timeout: time.Second, Failures: 3, Successes: 1,
		HTTP:    &config.HTTPCheck{URL: fmt.Sprintf("http://{{.Address}}:%d/health", p7HTTPPort), Method: "GET", ExpectStatus: []int{200}, BodyContains: "ok"},
		Targets: config.MonitorTargets{Containers: true, Selector: config.Selector{FromContainer: "web-*"}}}
	b, err := p7Window(ctx, monitor.Options{Monitors: []config.Monitor{web}, Engines: p7Engines{{Name: "fake", URL: "unix:///fake.sock", Cache: newP7Cache(env.P7Containers)}}},
		env.Settle+time.Second, env.P7Duration)
	if err != nil {
		return nil, err
	}
	rows := [][]string{{"monitors", "targets", "checks/s", "CPU (getrusage)", "idle baseline", "lateness p50 / p99 / max", "down events"}}
	for _, r := range []struct {
		name    string
		targets int
		res     p7Result
	}{{fmt.Sprintf("tcp, every %s", interval), targets, a}, {"http, every 1s", env.P7Containers, b}} {
		rows = append(rows, []string{r.name, strconv.Itoa(r.targets), fmt.Sprintf("%.0f", r.res.rate),
			fmt.Sprintf("%.3f cores", r.res.cores), fmt.Sprintf("%.3f cores", r.res.idleCores),
			fmt.Sprintf("%s / %s / %s", ms(r.res.p50), ms(r.res.p99), ms(r.res.pmax)), strconv.FormatInt(r.res.events, 10)})
	}
	env.table("P7 monitors (scheduler in process, listeners in a child process)", rows)
	where := "in process"
	return []SummaryRow{
		{ID: "P7", Metric: "tcp checks/s at ≤ 0.3 core", Measured: fmt.Sprintf("%.0f/s at %.3f cores", a.rate, a.cores),
			Baseline: fmt.Sprintf("idle %.3f cores", a.idleCores), Target: "10,000/s at ≤ 0.3 core",
			Met: verdict(a.rate >= 0.95*env.P7Rate && a.cores-a.idleCores <= 0.3 && a.events == 0, where)},
		{ID: "P7", Metric: "schedule lateness p99 (tcp)", Measured: ms(a.p99), Baseline: "scheduled time", Target: "≤ 50 ms",
			Met: verdict(a.p99 <= 50*time.Millisecond, where)},
		{ID: "P7", Metric: fmt.Sprintf("%d containers with an http monitor", env.P7Containers),
			Measured: fmt.Sprintf("%.0f checks/s at %.3f cores, p99 late %s", b.rate, b.cores, ms(b.p99)),
			Baseline: fmt.Sprintf("idle %.3f cores", b.idleCores), Target: "every container checked each second",
			Met: verdict(b.rate >= 0.95*float64(env.P7Containers) && b.events == 0, where)},
	}, nil
}
