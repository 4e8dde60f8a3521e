package bench

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/samalba/docker-eventsd/config"
	eventsd "github.com/samalba/docker-eventsd/daemon"
	"github.com/samalba/docker-eventsd/informer"
)

// startInProcess runs in the bench's process the daemon `docker-eventsd
// run` runs: eventsd.New with the options its flags give, and a zap JSON
// logger like the binary's. Options.Observe adds what the binary cannot
// give: the lag of every container event as it reaches the controller, and
// a count of every event handed on.
func (d *daemon) startInProcess(cfgPath string, o daemonOptions) error {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return err
	}
	opts, err := runOptions(o.Flags)
	if err != nil {
		return err
	}
	z, err := newZap(d.Log, o.Verbosity, o.LogMode)
	if err != nil {
		return err
	}
	log := zapr.NewLogger(z)
	d.lag, d.handled = newHistogram(), &counter{}
	opts.Config = cfg
	opts.Workers = o.Workers
	opts.Environ = append(os.Environ(), o.Env...)
	opts.Logger = log
	opts.Observe = informer.HandlerFunc(func(ev *informer.Event) {
		if ev.Type == informer.TypeContainer && !ev.Synthetic {
			d.lag.add(time.Since(ev.Time))
		}
		d.handled.add(1)
	})
	dm, err := eventsd.New(opts)
	if err != nil {
		_ = z.Sync()
		return err
	}
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), log))
	d.cancel = cancel
	d.Started = time.Now()
	d.cpu0 = cpuTime(os.Getpid())
	go func() {
		_ = dm.Run(ctx)
		_ = z.Sync()
		close(d.done)
	}()
	return nil
}

// runOptions reads the flags of `docker-eventsd run` that daemonOptions.Flags
// may hold into the eventsd.Options the binary would build from them, with
// the binary's defaults.
func runOptions(args []string) (eventsd.Options, error) {
	fs := flag.NewFlagSet("docker-eventsd run", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var o eventsd.Options
	fs.DurationVar(&o.Heartbeat, "heartbeat", eventsd.DefaultHeartbeat, "")
	fs.DurationVar(&o.HeartbeatTimeout, "heartbeat-timeout", eventsd.DefaultHeartbeatTimeout, "")
	fs.DurationVar(&o.MaxBackoff, "max-backoff", eventsd.DefaultMaxBackoff, "")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", eventsd.DefaultShutdownTimeout, "")
	fs.StringVar(&o.StateDir, "state-dir", "", "")
	if err := fs.Parse(args); err != nil {
		return o, fmt.Errorf("daemon flags %q in process: %w", args, err)
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("daemon flags %q in process: unexpected %q", args, fs.Args())
	}
	if o.ShutdownTimeout <= 0 {
		o.ShutdownTimeout = -1 // as the binary: stop running handlers at once
	}
	return o, nil
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
