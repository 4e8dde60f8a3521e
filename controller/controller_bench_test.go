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
// benchmark's path (hack/bench P2): every such event is logged as uncaught.
// The logger is the daemon's (zap, production JSON) writing to a file, as
// stderr redirected to a file or journald: "file" writes once per line;
// "buffered" goes through zap's BufferedWriteSyncer (what a buffered stderr
// would give); "discard" logs nothing, the matching alone.
func BenchmarkHandleUncaught(b *testing.B) {
	cfg := localConfig(config.Rule{Name: "never", Types: []string{"die", "start", "kill"}, FromContainer: "no-such-*", Command: "true"})
	events := make([]*informer.Event, 1024)
	for i := range events {
		ev := died("web-"+strconv.Itoa(i%16), "ev"+strconv.Itoa(i))
		events[i] = ev
	}
	for _, mode := range []string{"file", "buffered", "discard"} {
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
				if mode == "buffered" {
					bws := &zapcore.BufferedWriteSyncer{WS: f, Size: 256 << 10, FlushInterval: time.Second}
					defer func() { _ = bws.Stop() }()
					ws = bws
				}
				z := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(enc), ws, zapcore.InfoLevel),
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
