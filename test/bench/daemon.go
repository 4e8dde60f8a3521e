package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/reconcile"
)

// daemonOptions describe one run of docker-eventsd under test.
type daemonOptions struct {
	// Config is the text of events.yml.
	Config string
	// Env is added to the daemon's environment (handlers inherit it).
	Env []string
	// ProcEnv is added to the binary's environment only, not the handlers'
	// (GOMEMLIMIT, GOGC...); ignored in process.
	ProcEnv []string
	// Flags are extra flags of `docker-eventsd run`.
	Flags []string
	// Workers is --workers (0: the daemon's default).
	Workers int
	// Verbosity is -v.
	Verbosity int
	// LogMode, in process only, is "" (as the daemon logs) or "buffered"
	// (a what-if: see newZap).
	LogMode string
}

// daemon is a docker-eventsd under test: the real binary, or the same
// components run in the bench's process. Either way it logs JSON lines to
// Log, which benchmarks count.
type daemon struct {
	Log     string
	Started time.Time
	// cpu0 is the process's CPU time when the daemon started (in process).
	cpu0   time.Duration
	cmd    *exec.Cmd
	done   chan struct{}
	cancel context.CancelFunc
	// lag, in process only, records now - event time at the controller's
	// Handle for container events.
	lag *histogram
	// handled counts the events handed to the controller (in process only).
	handled *counter
}

// startDaemon runs the daemon: the binary at bin, or in process when bin is
// "". It writes the config and the log under dir.
func startDaemon(dir, bin string, o daemonOptions) (*daemon, error) {
	cfgPath := filepath.Join(dir, "events.yml")
	if err := os.WriteFile(cfgPath, []byte(o.Config), 0o644); err != nil {
		return nil, err
	}
	d := &daemon{Log: filepath.Join(dir, "daemon.log"), done: make(chan struct{})}
	if err := os.Remove(d.Log); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	args := []string{"run", "-c", cfgPath, "--log-format", "json", "-v", strconv.Itoa(o.Verbosity)}
	if o.Workers > 0 {
		args = append(args, "--workers", strconv.Itoa(o.Workers))
	}
	args = append(args, o.Flags...)
	if bin != "" {
		f, err := os.Create(d.Log)
		if err != nil {
			return nil, err
		}
		d.cmd = exec.Command(bin, args...)
		d.cmd.Env = append(append(os.Environ(), o.Env...), o.ProcEnv...)
		d.cmd.Stdout, d.cmd.Stderr = f, f
		d.Started = time.Now()
		if err := d.cmd.Start(); err != nil {
			f.Close()
			return nil, err
		}
		go func() {
			_ = d.cmd.Wait()
			f.Close()
			close(d.done)
		}()
		return d, nil
	}
	return d, d.startInProcess(cfgPath, o)
}

// startInProcess builds what `docker-eventsd run` builds (cmd/docker-eventsd
// run.go): a zap JSON logger, one informer per engine with the server-side
// filters of the rules, the controller and its workers.
func (d *daemon) startInProcess(cfgPath string, o daemonOptions) error {
	z, err := newZap(d.Log, o.Verbosity, o.LogMode)
	if err != nil {
		return err
	}
	log := zapr.NewLogger(z)
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	flags, err := parseFlags(o.Flags)
	if err != nil {
		return err
	}
	d.lag, d.handled = newHistogram(), &counter{}
	var ctrl *controller.Controller
	h := informer.HandlerFunc(func(ev *informer.Event) {
		if ev.Type == informer.TypeContainer && !ev.Synthetic {
			d.lag.add(time.Since(ev.Time))
		}
		d.handled.add(1)
		ctrl.Handle(ev)
	})
	var types []string
	for _, r := range cfg.Rules {
		types = append(types, r.Types...)
	}
	actions := informer.ActionsFor(types)
	infs := make([]*informer.Informer, 0, len(cfg.Engines))
	for _, e := range cfg.Engines {
		cli, err := informer.NewClient(e)
		if err != nil {
			return err
		}
		infs = append(infs, informer.New(informer.Options{
			Name: e.Name, URL: e.URL, Client: cli, Handler: h, Actions: actions,
			Heartbeat: flags["heartbeat"], HeartbeatTimeout: flags["heartbeat-timeout"], MaxBackoff: flags["max-backoff"],
		}))
	}
	environ := append(os.Environ(), o.Env...)
	ctrl = controller.New(controller.Options{
		Config: cfg, Runner: reconcile.NewRunner(reconcile.Options{}), Workers: o.Workers,
		Environ: environ, Logger: log,
	})
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), log))
	d.cancel = cancel
	d.Started = time.Now()
	d.cpu0 = cpuTime(os.Getpid())
	var wg sync.WaitGroup
	for _, inf := range infs {
		wg.Go(func() { inf.Run(ctx) })
	}
	go func() {
		_ = ctrl.Run(ctx, 5*time.Second)
		wg.Wait()
		_ = z.Sync()
		close(d.done)
	}()
	return nil
}

// newZap builds the daemon's logger (cmd/docker-eventsd logging.go, json):
// zap's production JSON, no sampling, writing to path. mode "buffered"
// (in process only, a what-if) writes through a 256 KiB buffer flushed
// every second instead of one write per line.
func newZap(path string, verbosity int, mode string) (*zap.Logger, error) {
	zc := zap.NewProductionConfig()
	zc.EncoderConfig.TimeKey = "ts"
	zc.EncoderConfig.EncodeTime = zapcore.RFC3339NanoTimeEncoder
	zc.Sampling = nil
	zc.Level = zap.NewAtomicLevelAt(zapcore.Level(-verbosity))
	zc.OutputPaths = []string{path}
	zc.ErrorOutputPaths = []string{path}
	switch mode {
	case "":
		return zc.Build()
	case "buffered":
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			return nil, err
		}
		ws := &zapcore.BufferedWriteSyncer{WS: f, Size: 256 << 10, FlushInterval: time.Second}
		core := zapcore.NewCore(zapcore.NewJSONEncoder(zc.EncoderConfig), ws, zc.Level)
		return zap.New(core, zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel)), nil
	}
	return nil, fmt.Errorf("log mode %q: want buffered or nothing", mode)
}

// parseFlags reads the duration flags the in-process daemon honours.
func parseFlags(args []string) (map[string]time.Duration, error) {
	out := map[string]time.Duration{}
	for i := 0; i < len(args); i++ {
		name, val, ok := strings.Cut(strings.TrimLeft(args[i], "-"), "=")
		if !ok {
			if i+1 >= len(args) {
				return nil, fmt.Errorf("flag %s: no value", args[i])
			}
			i++
			val = args[i]
		}
		switch name {
		case "heartbeat", "heartbeat-timeout", "max-backoff":
			v, err := time.ParseDuration(val)
			if err != nil {
				return nil, fmt.Errorf("flag %s: %w", name, err)
			}
			out[name] = v
		default:
			return nil, fmt.Errorf("flag %s: not supported in process", name)
		}
	}
	return out, nil
}

// Pid returns the daemon's process ID (the bench's own when in process).
func (d *daemon) Pid() int {
	if d.cmd != nil {
		return d.cmd.Process.Pid
	}
	return os.Getpid()
}

// InProcess reports whether the daemon runs in the bench's process.
func (d *daemon) InProcess() bool { return d.cmd == nil }

// Stop stops the daemon (SIGTERM, or cancel in process) and waits.
func (d *daemon) Stop() error {
	if d.cmd != nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(20 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
			return errors.New("daemon did not stop within 20s; killed")
		}
		return nil
	}
	d.cancel()
	<-d.done
	return nil
}

// Exited reports whether the daemon has exited.
func (d *daemon) Exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// waitLog waits until the daemon's log holds n lines containing s, and
// returns when the n-th was counted.
func (d *daemon) waitLog(s string, n int, timeout time.Duration) (time.Time, error) {
	t := newTail(d.Log, s)
	deadline := time.Now().Add(timeout)
	for {
		if c := t.count(); c >= int64(n) {
			return time.Now(), nil
		}
		if d.Exited() {
			return time.Time{}, fmt.Errorf("daemon exited; log %s has %d lines with %q, want %d", d.Log, t.count(), s, n)
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("log %s has %d lines with %q after %v, want %d", d.Log, t.count(), s, timeout, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
