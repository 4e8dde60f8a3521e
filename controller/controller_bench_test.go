package controller

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/zapr"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller/controllertest"
	"github.com/samalba/docker-eventsd/informer"
)

// BenchmarkHandleUncaught is Handle for an event no rule matches, the ingest
// benchmark's path (test/bench P2). With rules in the config the uncaught
// line is a debug line: "v0" is the daemon as shipped (-v 0: the line is not
// built), with the daemon's logger (zap, production JSON) writing to a file.
// "v1-file" is -v 1, every uncaught event written once per line, as stderr
// redirected to a file or journald; "v1-buffered" the same through zap's
// BufferedWriteSyncer (what a buffered stderr would give); "discard" logs
// nothing, the matching alone.
func BenchmarkHandleUncaught(b *testing.B) {
	cfg := localConfig(config.Rule{Name: "never", Types: []string{"die", "start", "kill"}, Selector: config.Selector{FromContainer: "no-such-*"}, Action: config.Action{Command: "true"}})
	events := make([]*informer.Event, 1024)
	for i := range events {
		ev := died("web-"+strconv.Itoa(i%16), "ev"+strconv.Itoa(i))
		events[i] = ev
	}
	for _, mode := range []string{"v0", "v1-file", "v1-buffered", "discard"} {
		b.Run(mode, func(b *testing.B) {
			log := logr.Discard()
			if mode != "discard" {
				f, err := os.Create(filepath.Join(b.TempDir(), "daemon.log"))
				if err != nil {
					b.Fatal(err)
				}
				defer f.Close()
				enc := zap.NewProductionEncoderConfig()
				enc.TimeKey = "ts"
				enc.EncodeTime = zapcore.RFC3339NanoTimeEncoder
				var ws zapcore.WriteSyncer = f
				level := zapcore.DebugLevel // -v 1
				if mode == "v0" {
					level = zapcore.InfoLevel
				}
				if mode == "v1-buffered" {
					bws := &zapcore.BufferedWriteSyncer{WS: f, Size: 256 << 10, FlushInterval: time.Second}
					defer func() { _ = bws.Stop() }()
					ws = bws
				}
				z := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), ws, level),
					zap.AddCaller(), zap.AddStacktrace(zapcore.ErrorLevel))
				log = zapr.NewLogger(z)
			}
			c := New(Options{Config: cfg, Runner: &controllertest.Runner{}, Workers: 4, Logger: log})
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c.Handle(events[i&1023])
			}
		})
	}
}

// BenchmarkDeliveryPrep is what a worker computes for each handler run
// besides running it: the stdin document and the environment.
func BenchmarkDeliveryPrep(b *testing.B) {
	cfg := localConfig(config.Rule{Name: "all", Types: []string{"*"}, Action: config.Action{Command: "true"}})
	cfg.Engines[0].Labels = map[string]string{"dc": "par1", "role": "worker"}
	c := New(Options{Config: cfg, Runner: &controllertest.Runner{}, Environ: os.Environ()})
	ev := died("web-1", "ev1")
	ev.Attributes = map[string]string{"name": "web-1", "image": "nginx", "exitCode": "0", "com.example.app": "web"}
	ev.Container.Labels = map[string]string{"com.example.app": "web", "com.example.index": "1"}
	r := c.rules.Load().active[0]
	b.Run("stdin", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if _, err := stdinJSON(r.name, ev, &cfg.Engines[0]); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("env", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			_ = eventEnv(r.env, r.name, ev, cfg.Engines[0].URL, 1)
		}
	})
}
