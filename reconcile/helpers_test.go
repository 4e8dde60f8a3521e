package reconcile

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// pathEnv is the minimal environment test handlers need to find sleep, cat...
func pathEnv(extra ...string) []string {
	return append([]string{"PATH=" + os.Getenv("PATH")}, extra...)
}

// waitFor polls cond until it holds or the deadline passes. Process tests
// have no event to wait on, so polling with a deadline is the least bad way.
func waitFor(t *testing.T, within time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(within)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", within, what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// readPID waits for a handler to write a PID into path and returns it.
func readPID(t *testing.T, path string) int {
	t.Helper()
	var pid int
	waitFor(t, 5*time.Second, "pid file "+path, func() bool {
		data, err := os.ReadFile(path)
		if err != nil || !bytes.HasSuffix(data, []byte("\n")) {
			return false
		}
		pid, err = strconv.Atoi(strings.TrimSpace(string(data)))
		return err == nil
	})
	return pid
}

// processGone reports whether pid has exited: no /proc entry, or a zombie
// waiting for a reaper the test does not control.
func processGone(pid int) bool {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	i := bytes.LastIndexByte(data, ')') // the command name may contain anything
	if i < 0 || i+2 >= len(data) {
		return false
	}
	state := data[i+2]
	return state == 'Z' || state == 'X'
}

// killOnCleanup kills a background process a test left behind.
func killOnCleanup(t *testing.T, pid int) {
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
}

// runAsync starts r.Run in a goroutine and waits until it is running.
func runAsync(t *testing.T, ctx context.Context, r *Runner, cmd Command) <-chan runOutcome {
	t.Helper()
	ch := make(chan runOutcome, 1)
	go func() {
		start := time.Now()
		res, err := r.Run(ctx, cmd)
		ch <- runOutcome{res: res, err: err, elapsed: time.Since(start)}
	}()
	waitFor(t, 5*time.Second, "the handler to start", func() bool { return r.Running() == 1 })
	return ch
}

type runOutcome struct {
	res     Result
	err     error
	elapsed time.Duration
}

// await returns the outcome of a Run, failing the test if it takes too long.
func await(t *testing.T, ch <-chan runOutcome, within time.Duration) runOutcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(within):
		t.Fatalf("Run did not return within %s", within)
		return runOutcome{}
	}
}

// tempPath returns a path named name in a fresh temporary directory.
func tempPath(t *testing.T, name string) string {
	return filepath.Join(t.TempDir(), name)
}

// fileExists reports whether path exists.
func fileExists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}
