package bench

import (
	"context"
	"io"
	"os"
	"os/exec"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/reconcile"
)

// The cost of starting a handler, by what the daemon adds to a bare
// `sh -c true`: stdin/stdout/stderr pipes, the runner (process group,
// timeout, bounded capture). Four at a time, like --workers 4.

// spawnLoop runs run b.N times, 4 at a time. Besides the time, it reports
// the CPU time of the spawning process per run (parent-µs/op): what the
// daemon's process spends per handler, not the handler's own.
func spawnLoop(b *testing.B, run func() error) {
	var n atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu0 := cpuTime(os.Getpid())
	for range 4 {
		wg.Go(func() {
			for n.Add(1) <= int64(b.N) {
				if err := run(); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(cpuTime(os.Getpid())-cpu0)/float64(time.Microsecond)/float64(b.N), "parent-µs/op")
}

func BenchmarkSpawnRaw(b *testing.B) {
	spawnLoop(b, func() error { return exec.Command("/bin/sh", "-c", "true").Run() })
}

var stdinDoc = []byte(`{"rule":"all","event":{"id":"9ac98ef7afba03c07e162190","type":"container","action":"kill"},"container":{"id":"c8","name":"c8"}}`)

func BenchmarkSpawnRawWithEnv(b *testing.B) {
	env := append(os.Environ(), "EVENT_TYPE=container", "EVENT_ACTION=kill", "EVENT_ID=x", "FROM_ENGINE=e1", "FROM_CONTAINER=c8")
	spawnLoop(b, func() error {
		c := exec.Command("/bin/sh", "-c", "true")
		c.Env = env
		return c.Run()
	})
}

func BenchmarkSpawnPipes(b *testing.B) {
	spawnLoop(b, func() error {
		var out, errb safeBuffer
		c := exec.Command("/bin/sh", "-c", "true")
		c.Stdout, c.Stderr = &out, &errb
		return c.Run()
	})
}

// BenchmarkSpawnPipesReadFrom is BenchmarkSpawnPipes with writers that
// implement io.ReaderFrom: io.Copy then reads into them directly instead of
// allocating a 32 KiB buffer per stream per run.
func BenchmarkSpawnPipesReadFrom(b *testing.B) {
	spawnLoop(b, func() error {
		var out, errb readFromBuffer
		c := exec.Command("/bin/sh", "-c", "true")
		c.Stdout, c.Stderr = &out, &errb
		return c.Run()
	})
}

// readFromBuffer keeps what it reads, reading 512 bytes at a time.
type readFromBuffer struct{ safeBuffer }

func (r *readFromBuffer) ReadFrom(src io.Reader) (int64, error) {
	var buf [512]byte
	var n int64
	for {
		k, err := src.Read(buf[:])
		if k > 0 {
			_, _ = r.Write(buf[:k])
			n += int64(k)
		}
		if err == io.EOF {
			return n, nil
		}
		if err != nil {
			return n, err
		}
	}
}

func BenchmarkSpawnPipesStdin(b *testing.B) {
	spawnLoop(b, func() error {
		var out, errb safeBuffer
		c := exec.Command("/bin/sh", "-c", "true")
		c.Stdout, c.Stderr = &out, &errb
		c.Stdin = bytesReader(stdinDoc)
		return c.Run()
	})
}

func BenchmarkSpawnRunner(b *testing.B) {
	r := reconcile.NewRunner(reconcile.Options{})
	env := append(os.Environ(), "EVENT_TYPE=container", "EVENT_ACTION=kill", "EVENT_ID=x", "FROM_ENGINE=e1", "FROM_CONTAINER=c8")
	ctx := context.Background()
	spawnLoop(b, func() error {
		_, err := r.Run(ctx, reconcile.Command{Script: "true", Env: env, Stdin: stdinDoc, Timeout: time.Minute})
		return err
	})
}

type safeBuffer struct {
	mu sync.Mutex
	b  []byte
}

func (s *safeBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.b = append(s.b, p...)
	return len(p), nil
}

type bytesReaderT struct {
	b []byte
	i int
}

func bytesReader(b []byte) *bytesReaderT { return &bytesReaderT{b: b} }

func (r *bytesReaderT) Read(p []byte) (int, error) {
	if r.i >= len(r.b) {
		return 0, io.EOF
	}
	n := copy(p, r.b[r.i:])
	r.i += n
	return n, nil
}
