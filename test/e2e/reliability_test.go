package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

func TestFailingHandlerIsRetriedWithBackoffUntilMaxAttempts(t *testing.T) {
	engines := testenv.Engines(t)
	name := unique("flaky")
	cfg := clusterYAML(engines) + fmt.Sprintf(`
events:
  - name: flaky
    type: start
    from_engine: a
    from_container: %s
    retry: {max_attempts: 3, backoff: 300ms, max_backoff: 5s}
    command: '%s; echo "attempt $EVENT_ATTEMPT failed" >&2; exit 1'
`, name, recordCmd)
	d := startDaemon(t, cfg, len(engines))
	testenv.RunContainer(t, engines["a"], name, testenv.Image(t), "sleep", "600")
	d.waitLog(`"msg":"Handler failed, giving up"`, 1, 30*time.Second)
	runs := d.runs("flaky")
	if len(runs) != 3 {
		t.Fatalf("%d runs, want 3", len(runs))
	}
	for i, r := range runs {
		if r.Env["EVENT_ATTEMPT"] != strconv.Itoa(i+1) || r.Env["EVENT_ID"] != runs[0].Env["EVENT_ID"] {
			t.Errorf("run %d: attempt %s id %s", i, r.Env["EVENT_ATTEMPT"], r.Env["EVENT_ID"])
		}
	}
	// Backoff 300ms then 600ms, with up to 20% jitter either way.
	if gap := runs[1].MTime.Sub(runs[0].MTime); gap < 240*time.Millisecond {
		t.Errorf("second attempt %v after the first, want >= ~300ms", gap)
	}
	if gap := runs[2].MTime.Sub(runs[1].MTime); gap < 480*time.Millisecond {
		t.Errorf("third attempt %v after the second, want >= ~600ms", gap)
	}
	time.Sleep(1500 * time.Millisecond)
	if n := len(d.runs("flaky")); n != 3 {
		t.Fatalf("%d runs after giving up, want 3", n)
	}
	if logs := d.Logs(); !strings.Contains(logs, "attempt 3 failed") {
		t.Errorf("the give-up log does not carry the last output")
	}
}

func TestHungHandlerAndItsGrandchildAreKilledAtTheTimeout(t *testing.T) {
	engines := testenv.Engines(t)
	name := unique("hung")
	cfg := clusterYAML(engines) + fmt.Sprintf(`
events:
  - name: hung
    type: start
    from_engine: a
    from_container: %s
    timeout: 1s
    retry: {max_attempts: 1}
    command: 'sh -c "trap \"\" TERM; sleep 1000" & echo $! > "$OUT/grandchild.pid"; sleep 1000'
`, name)
	d := startDaemon(t, cfg, len(engines))
	testenv.RunContainer(t, engines["a"], name, testenv.Image(t), "sleep", "600")
	pidFile := filepath.Join(d.Dir, "grandchild.pid")
	deadline := time.Now().Add(30 * time.Second)
	var pid int
	for pid == 0 {
		if data, err := os.ReadFile(pidFile); err == nil {
			pid, _ = strconv.Atoi(strings.TrimSpace(string(data)))
		}
		if time.Now().After(deadline) {
			t.Fatal("handler did not start")
		}
		time.Sleep(20 * time.Millisecond)
	}
	started := time.Now()
	// Timeout 1s, then SIGTERM (ignored by the grandchild), 5s grace, SIGKILL.
	for alive(pid) {
		if time.Since(started) > 20*time.Second {
			t.Fatalf("grandchild %d still alive %v after the handler started", pid, time.Since(started))
		}
		time.Sleep(50 * time.Millisecond)
	}
	d.waitLog(`"msg":"Handler failed, giving up"`, 1, 10*time.Second)
}

// alive reports whether pid runs (a zombie counts as dead).
func alive(pid int) bool {
	if syscall.Kill(pid, 0) != nil {
		return false
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	fields := strings.Fields(string(stat))
	return len(fields) > 2 && fields[2] != "Z"
}

// handlerRunning starts the daemon, with flags, on one rule named rule that
// runs command at the start of a container of the test's own on engine a
// (the engines are shared: other tests start containers there too), starts
// that container and returns once the handler has made $OUT/ready (command
// must make it).
func handlerRunning(t *testing.T, rule, command, ready string, flags ...string) *daemon {
	t.Helper()
	engines := testenv.Engines(t)
	name := unique(rule)
	cfg := clusterYAML(engines) + fmt.Sprintf(`
events:
  - name: %s
    type: start
    from_engine: a
    from_container: %s
    command: '%s'
`, rule, name, command)
	d := startDaemon(t, cfg, len(engines), flags...)
	testenv.RunContainer(t, engines["a"], name, testenv.Image(t), "sleep", "600")
	waitFile(t, filepath.Join(d.Dir, ready), 30*time.Second)
	return d
}

func TestShutdownWaitsForInFlightHandlers(t *testing.T) {
	d := handlerRunning(t, "slow", `touch "$OUT/started"; sleep 2; touch "$OUT/finished"`, "started", "--shutdown-timeout", "20s")
	d.stop(syscall.SIGTERM)
	if _, err := os.Stat(filepath.Join(d.Dir, "finished")); err != nil {
		t.Fatalf("daemon exited before its in-flight handler finished: %v", err)
	}
}

func TestShutdownTimeoutKillsHandlersThatTakeTooLong(t *testing.T) {
	d := handlerRunning(t, "slow", `touch "$OUT/started"; sleep 60; touch "$OUT/finished"`, "started", "--shutdown-timeout", "1s")
	t0 := time.Now()
	d.stop(syscall.SIGTERM)
	if took := time.Since(t0); took > 15*time.Second {
		t.Fatalf("shutdown took %v with --shutdown-timeout 1s", took)
	}
	if _, err := os.Stat(filepath.Join(d.Dir, "finished")); err == nil {
		t.Fatal("handler finished: it should have been killed")
	}
}

func waitFile(t *testing.T, path string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not appear within %v", path, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestSecondSignalExitsAtOnceAndKillsHandlers(t *testing.T) {
	// The pid file appears whole (mv), once written.
	d := handlerRunning(t, "slow", `echo $$ > "$OUT/pid.tmp" && mv "$OUT/pid.tmp" "$OUT/handler.pid"; sleep 60; touch "$OUT/finished"`,
		"handler.pid", "--shutdown-timeout", "60s")
	data, err := os.ReadFile(filepath.Join(d.Dir, "handler.pid"))
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(data)))
	if err != nil {
		t.Fatalf("handler.pid: %v", err)
	}
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	d.waitLog("Shutting down, signal again to exit at once", 1, 10*time.Second)
	t0 := time.Now()
	_ = d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
	case <-time.After(10 * time.Second):
		t.Fatal("daemon still running 10s after the second signal")
	}
	if took := time.Since(t0); took > 5*time.Second {
		t.Errorf("exit took %v after the second signal", took)
	}
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("handler %d survived the daemon's exit", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
