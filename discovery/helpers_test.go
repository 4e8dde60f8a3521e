package discovery

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"

	"github.com/samalba/docker-eventsd/config"
)

// waitTimeout bounds every wait of these tests.
const waitTimeout = 15 * time.Second

// service returns the address of a real service hack/test.sh started
// (EVENTSD_TEST_<NAME>), or skips the test outside hack/test.sh. The test
// holds the service alone until it ends (lockService): tests kill it, and
// change its settings and records, and go test runs packages at once.
func service(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv("EVENTSD_TEST_" + name)
	if v == "" {
		t.Skipf("EVENTSD_TEST_%s is not set: run the test with hack/test.sh", name)
	}
	lockService(t, name)
	return v
}

// lockService takes /tmp/eventsd-service-<name>.lock (flock, exclusive)
// until the test ends; test/e2e's discovery tests take the same lock.
func lockService(t *testing.T, name string) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "eventsd-service-"+strings.ToLower(name)+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
}

// hack runs hack/<script> with args (kill, start of a service).
func hack(t *testing.T, script string, args ...string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	out, err := exec.Command(filepath.Join(filepath.Dir(file), "..", "hack", script), args...).CombinedOutput()
	if err != nil {
		t.Fatalf("hack/%s %v: %v\n%s", script, args, err, out)
	}
}

// sets runs src until the test ends and gives each set it pushes, as
// "name=url" sorted and joined by spaces.
type sets struct {
	t  *testing.T
	ch chan string
}

func run(t *testing.T, src Source) *sets {
	t.Helper()
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), testr.New(t)))
	s := &sets{t: t, ch: make(chan string, 1000)}
	done := make(chan struct{})
	go func() {
		defer close(done)
		src.Run(ctx, func(engines []config.Engine) { s.ch <- render(engines) })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(waitTimeout):
			t.Error("Run did not return after its context was cancelled")
		}
	})
	return s
}

func render(engines []config.Engine) string {
	var parts []string
	for _, e := range engines {
		parts = append(parts, e.Name+"="+e.URL)
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}

// wait waits for a push of want, and returns the pushes before it.
func (s *sets) wait(want string) []string {
	s.t.Helper()
	var seen []string
	deadline := time.After(waitTimeout)
	for {
		select {
		case got := <-s.ch:
			if got == want {
				return seen
			}
			seen = append(seen, got)
		case <-deadline:
			s.t.Fatalf("no push of %q in %v; pushes: %q", want, waitTimeout, seen)
		}
	}
}

// quiet checks that nothing is pushed for d.
func (s *sets) quiet(d time.Duration) {
	s.t.Helper()
	select {
	case got := <-s.ch:
		s.t.Fatalf("pushed %q, want nothing", got)
	case <-time.After(d):
	}
}

// none checks that no push among pushes lacks any of the engines of keep:
// a source that could not be reached removed nothing.
func none(t *testing.T, pushes []string, keep ...string) {
	t.Helper()
	for _, p := range pushes {
		for _, k := range keep {
			if !strings.Contains(" "+p+" ", " "+k+" ") {
				t.Errorf("a push without %s: %q", k, p)
			}
		}
	}
}

var fast = Options{MinBackoff: 20 * time.Millisecond, MaxBackoff: 200 * time.Millisecond, Resync: time.Second}
