package informer_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/internal/testenv"
)

// The test engines are shared: go test runs packages in parallel, and test/e2e
// kills engines a and b (hack/engines.sh kill) in some of its tests. A scenario of
// this package that runs while its engine is killed and started again sees what
// nobody planned (its containers dead, the ring empty, an outage of its own), and
// its outcome says nothing. onSharedEngine runs such a scenario with a sentinel
// container on the engine: when the sentinel no longer runs, the engine was
// restarted under the scenario, the attempt is inconclusive (skipped), and the
// scenario runs again, up to three times.

// shared is one attempt of a scenario on a shared engine.
type shared struct {
	t        *testing.T
	url      string
	sentinel string
}

// onSharedEngine runs scenario on the engine at url, again when an attempt was
// disturbed by a restart of the engine.
func onSharedEngine(t *testing.T, url string, scenario func(t *testing.T, s *shared)) {
	t.Helper()
	const attempts = 3
	for i := 1; i <= attempts; i++ {
		disturbed := false
		t.Run(fmt.Sprintf("attempt-%d", i), func(t *testing.T) {
			s := &shared{t: t, url: url, sentinel: uniqueName(t, "sentinel")}
			s.run("run", "-d", "--network", "none", "--name", s.sentinel, testenv.Image(t), "sleep", "600")
			defer func() { disturbed = t.Skipped() }()
			scenario(t, s)
			if s.restarted() {
				s.inconclusive()
			}
		})
		if !disturbed {
			return
		}
	}
	t.Skipf("the engine was restarted by another test under each of %d attempts", attempts)
}

// docker runs the docker CLI against the engine and returns its output, or the
// error with docker's standard error.
func docker(url string, args ...string) (string, error) {
	bin := os.Getenv("EVENTSD_TEST_DOCKER")
	if bin == "" {
		bin = "docker"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var out, stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, bin, append([]string{"-H", url}, args...)...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("docker %s: %w: %s", strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return strings.TrimSpace(out.String()), nil
}

// run runs the docker CLI; a failure fails the attempt, or makes it inconclusive
// when the engine was restarted. A container it runs (run, create) is removed
// when the attempt ends.
func (s *shared) run(args ...string) string {
	s.t.Helper()
	out, err := docker(s.url, args...)
	if err != nil {
		s.fail("%v", err)
	}
	if len(args) > 0 && (args[0] == "run" || args[0] == "create") {
		for i, a := range args {
			if a == "--name" && i+1 < len(args) {
				name := args[i+1]
				s.t.Cleanup(func() { _, _ = docker(s.url, "rm", "-f", name) })
			}
		}
	}
	return out
}

// restarted reports whether the engine was restarted (or is down) since the
// attempt began: its sentinel does not run any more.
func (s *shared) restarted() bool {
	out, err := docker(s.url, "inspect", "-f", "{{.State.Running}}", s.sentinel)
	return err != nil || out != "true"
}

// inconclusive ends the attempt as skipped, once the engine answers again.
func (s *shared) inconclusive() {
	s.t.Helper()
	for deadline := time.Now().Add(90 * time.Second); time.Now().Before(deadline); time.Sleep(time.Second) {
		if _, err := docker(s.url, "version"); err == nil {
			break
		}
	}
	s.t.Skip("the engine was restarted by another test meanwhile (the test engines are shared): inconclusive")
}

// fail fails the attempt, unless the engine was restarted under it.
func (s *shared) fail(format string, args ...any) {
	s.t.Helper()
	if s.restarted() {
		s.inconclusive()
	}
	s.t.Fatalf(format, args...)
}

// check fails the attempt (without ending it) when ok is false, unless the
// engine was restarted under it.
func (s *shared) check(ok bool, format string, args ...any) {
	s.t.Helper()
	if ok {
		return
	}
	if s.restarted() {
		s.inconclusive()
	}
	s.t.Errorf(format, args...)
}

// find waits for the n-th event (1-based) with this action about the named
// container (an engine event when name is "").
func (s *shared) find(rec *recorder, action, name string, n int, timeout time.Duration) *informer.Event {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		rec.mu.Lock()
		seen := 0
		for _, ev := range rec.events {
			if ev.Action != action {
				continue
			}
			if (name == "" && ev.Container == nil) || (ev.Container != nil && ev.Container.Name == name) {
				if seen++; seen == n {
					rec.mu.Unlock()
					return ev
				}
			}
		}
		rec.mu.Unlock()
		if time.Now().After(deadline) {
			s.fail("no %s number %d for %q within %v; got %q", action, n, name, timeout, rec.lines())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// flushRing pushes every container event out of the engine's 256-event ring, as
// a burst of other events does: only the relist can then tell what happened.
func (s *shared) flushRing() {
	s.t.Helper()
	for i := 0; i < 140; i++ {
		v := fmt.Sprintf("flush-%d-%d", time.Now().UnixNano()%1e6, i)
		s.run("volume", "create", v)
		s.run("volume", "rm", v)
	}
}
