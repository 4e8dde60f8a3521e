package monitor

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
)

func TestExecPluginContract(t *testing.T) {
	dir := t.TempDir()
	flag := filepath.Join(dir, "failing")
	script := filepath.Join(dir, "check.sh")
	// The plugin contract: the target in the environment, exit 0 healthy,
	// non-zero failing, stdout into the event.
	os.WriteFile(script, []byte(`#!/bin/sh
echo "checked $MONITOR_NAME $MONITOR_TARGET at $MONITOR_ADDRESS"
if [ -e failing ]; then echo "replica lag 300s" >&2; exit 2; fi
`), 0o755)
	m := fastMonitor("replication")
	m.Kind, m.Exec, m.Dir = config.MonitorExec, &config.ExecCheck{Command: "./check.sh"}, dir
	m.Interval, m.Timeout = 50*time.Millisecond, 2*time.Second
	m.Targets.Addresses = []string{"10.0.0.5:3306"}
	rec := newRecorder()
	s := runScheduler(t, Options{Monitors: []config.Monitor{m}, Handler: rec, Environ: []string{"PATH=" + os.Getenv("PATH")}})
	waitFor(t, 3*time.Second, "up", func() bool {
		r, _ := s.Results().Result("replication", "", "10.0.0.5:3306")
		return r == config.MonitorUp
	})

	os.WriteFile(flag, nil, 0o644)
	ev := rec.next(t, 3*time.Second)
	if ev.Action != config.TypeExecFailed || ev.Monitor.Output != "checked replication 10.0.0.5:3306 at 10.0.0.5:3306" ||
		ev.Monitor.Error != "exit status 2: replica lag 300s" {
		t.Fatalf("down event = %s %+v", ev.Action, ev.Monitor)
	}
	os.Remove(flag)
	if ev := rec.next(t, 3*time.Second); ev.Action != config.TypeExecOK {
		t.Fatalf("up event = %s %+v", ev.Action, ev.Monitor)
	}
}

func TestExecPluginTimeoutKillsItsProcessGroup(t *testing.T) {
	dir := t.TempDir()
	pidFile := filepath.Join(dir, "child.pid")
	m := fastMonitor("slow")
	m.Kind = config.MonitorExec
	// The shell and a child of it both outlive the timeout unless the
	// whole group is killed.
	m.Exec = &config.ExecCheck{Command: `sleep 30 & echo $! > child.pid; wait`}
	m.Dir, m.Interval, m.Timeout, m.Failures = dir, 300*time.Millisecond, 100*time.Millisecond, 1
	rec := newRecorder()
	runScheduler(t, Options{Monitors: []config.Monitor{m}, Handler: rec, Environ: []string{"PATH=" + os.Getenv("PATH")}})
	ev := rec.next(t, 3*time.Second)
	if ev.Action != config.TypeExecFailed || !strings.HasPrefix(ev.Monitor.Error, "timed out") {
		t.Fatalf("event = %s %+v", ev.Action, ev.Monitor)
	}
	data, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := strconv.Atoi(strings.TrimSpace(string(data)))
	waitFor(t, 3*time.Second, "the plugin's child killed", func() bool {
		return syscall.Kill(pid, 0) == syscall.ESRCH
	})
}

func TestExecOutputIsBounded(t *testing.T) {
	m := fastMonitor("loud")
	m.Kind, m.Failures = config.MonitorExec, 1
	m.Exec = &config.ExecCheck{Command: `head -c 100000 /dev/zero | tr '\0' x; exit 1`}
	m.Interval, m.Timeout = 200*time.Millisecond, 2*time.Second
	rec := newRecorder()
	runScheduler(t, Options{Monitors: []config.Monitor{m}, Handler: rec, Environ: []string{"PATH=" + os.Getenv("PATH")}})
	ev := rec.next(t, 3*time.Second)
	if len(ev.Monitor.Output) != MaxOutput {
		t.Errorf("output of %d bytes, want %d", len(ev.Monitor.Output), MaxOutput)
	}
}
