package reconcile

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// ignoreTerm is a handler whose shell and grandchild both ignore SIGTERM; the
// grandchild's PID is written to ./pidfile.
const ignoreTerm = `trap "" TERM; sleep 1000 & echo $! > pidfile; wait`

// TestRunTimeoutKillsGroup checks that a timeout reaches a grandchild that
// ignores SIGTERM, whether SIGKILL was needed for the shell (after Grace) or
// only for what the shell left behind.
func TestRunTimeoutKillsGroup(t *testing.T) {
	t.Parallel()
	// The grandchild ignores SIGTERM; the shell dies of it.
	const stubbornGrandchild = `sh -c 'trap "" TERM; exec sleep 1000' %s & echo $! > pidfile; wait`
	tests := []struct {
		name       string
		script     string
		grace      time.Duration
		wantKilled bool
	}{
		{name: "shell and grandchild ignore term", script: ignoreTerm, grace: 300 * time.Millisecond, wantKilled: true},
		{name: "grandchild ignores term", script: fmt.Sprintf(stubbornGrandchild, ">/dev/null 2>&1"), grace: time.Minute},
		{name: "grandchild ignores term and holds stdout", script: fmt.Sprintf(stubbornGrandchild, ""), grace: time.Minute},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			r := NewRunner(Options{WaitDelay: 200 * time.Millisecond})
			start := time.Now()
			res, err := r.Run(context.Background(), Command{
				Script:  tt.script,
				Env:     pathEnv(),
				Dir:     dir,
				Timeout: 300 * time.Millisecond,
				Grace:   tt.grace,
			})
			elapsed := time.Since(start)
			pid := readPID(t, filepath.Join(dir, "pidfile"))
			killOnCleanup(t, pid)
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("Run error = %v, want ErrTimeout", err)
			}
			if elapsed > 2*time.Second {
				t.Errorf("Run took %s, want under 2s", elapsed)
			}
			if !res.TimedOut || res.Killed != tt.wantKilled || res.ExitCode != -1 {
				t.Errorf("Result = %+v, want TimedOut, Killed %v, ExitCode -1", res, tt.wantKilled)
			}
			waitFor(t, 2*time.Second, "the grandchild to die", func() bool { return processGone(pid) })
			if n := r.Running(); n != 0 {
				t.Errorf("Running() = %d, want 0", n)
			}
		})
	}
}

// TestRunStopWithoutKill checks that a handler that exits on SIGTERM is not
// SIGKILLed and does not wait out its grace period.
func TestRunStopWithoutKill(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		script   string
		wantCode int
	}{
		{name: "default action", script: "sleep 1000", wantCode: -1},
		{name: "trap exits", script: "trap 'exit 7' TERM; sleep 1000 & wait", wantCode: 7},
	}
	r := NewRunner(Options{})
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			res, err := r.Run(context.Background(), Command{
				Script:  tt.script,
				Env:     pathEnv(),
				Timeout: 200 * time.Millisecond,
				Grace:   time.Minute,
			})
			if elapsed := time.Since(start); elapsed > 5*time.Second {
				t.Errorf("Run took %s, want well under the grace period", elapsed)
			}
			if !errors.Is(err, ErrTimeout) {
				t.Fatalf("Run error = %v, want ErrTimeout", err)
			}
			if !res.TimedOut || res.Killed || res.ExitCode != tt.wantCode {
				t.Errorf("Result = %+v, want TimedOut, not Killed, ExitCode %d", res, tt.wantCode)
			}
		})
	}
}

// TestRunContextDone checks that a done context stops a handler as a timeout
// does, with an error wrapping the context's.
func TestRunContextDone(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		script     string
		grace      time.Duration
		wantKilled bool
	}{
		{name: "exits on term", script: "sleep 1000 & echo $! > pidfile; wait", grace: time.Minute},
		{name: "ignores term", script: ignoreTerm, grace: 300 * time.Millisecond, wantKilled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			r := NewRunner(Options{})
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			ch := runAsync(t, ctx, r, Command{Script: tt.script, Env: pathEnv(), Dir: dir, Grace: tt.grace})
			pid := readPID(t, filepath.Join(dir, "pidfile"))
			killOnCleanup(t, pid)
			cancel()
			o := await(t, ch, 3*time.Second)
			if !errors.Is(o.err, context.Canceled) || errors.Is(o.err, ErrTimeout) {
				t.Fatalf("Run error = %v, want one wrapping context.Canceled", o.err)
			}
			if o.res.TimedOut || o.res.Killed != tt.wantKilled {
				t.Errorf("Result = %+v, want not TimedOut, Killed %v", o.res, tt.wantKilled)
			}
			waitFor(t, 2*time.Second, "the grandchild to die", func() bool { return processGone(pid) })
		})
	}
}

func TestRunContextDoneBeforeStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	marker := tempPath(t, "marker")
	res, err := NewRunner(Options{}).Run(ctx, Command{Script: "touch " + marker, Env: pathEnv()})
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Run error = %v, want one wrapping context.Canceled", err)
	}
	if res.PID != 0 || res.ExitCode != -1 {
		t.Errorf("Result = %+v, want not started", res)
	}
	if fileExists(marker) {
		t.Error("the handler ran although the context was done")
	}
}

func TestKillAll(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	r := NewRunner(Options{})
	ch := runAsync(t, context.Background(), r, Command{
		Script: "sleep 1000 & echo $! > pidfile; wait",
		Env:    pathEnv(),
		Dir:    dir,
	})
	pid := readPID(t, filepath.Join(dir, "pidfile"))
	killOnCleanup(t, pid)
	r.KillAll()
	o := await(t, ch, 3*time.Second)
	var ee *ExitError
	if !errors.As(o.err, &ee) || ee.Signal != "killed" {
		t.Fatalf("Run error = %v, want an *ExitError for SIGKILL", o.err)
	}
	if !o.res.Killed || o.res.TimedOut || o.res.ExitCode != -1 {
		t.Errorf("Result = %+v, want Killed, not TimedOut, ExitCode -1", o.res)
	}
	waitFor(t, 2*time.Second, "the grandchild to die", func() bool { return processGone(pid) })
	if n := r.Running(); n != 0 {
		t.Errorf("Running() = %d, want 0", n)
	}
}

// TestRunBackground checks that a successful shell's background process is
// left alone and cannot hold Run longer than WaitDelay.
func TestRunBackground(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		script     string
		waitDelay  time.Duration
		maxElapsed time.Duration
	}{
		{name: "holds stdout", script: "sleep 1000 & echo $! > pidfile; echo started",
			waitDelay: 200 * time.Millisecond, maxElapsed: 1500 * time.Millisecond},
		{name: "holds stderr", script: "sleep 1000 >/dev/null & echo $! > pidfile; echo started",
			waitDelay: 200 * time.Millisecond, maxElapsed: 1500 * time.Millisecond},
		{name: "redirected", script: "sleep 1000 >/dev/null 2>&1 & echo $! > pidfile; echo started",
			waitDelay: time.Minute, maxElapsed: 5 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			r := NewRunner(Options{WaitDelay: tt.waitDelay})
			start := time.Now()
			res, err := r.Run(context.Background(), Command{Script: tt.script, Env: pathEnv(), Dir: dir})
			elapsed := time.Since(start)
			pid := readPID(t, filepath.Join(dir, "pidfile"))
			killOnCleanup(t, pid)
			if err != nil {
				t.Fatalf("Run error = %v, want success", err)
			}
			if elapsed > tt.maxElapsed {
				t.Errorf("Run took %s, want at most %s", elapsed, tt.maxElapsed)
			}
			if res.ExitCode != 0 || res.Killed || string(res.Stdout) != "started\n" {
				t.Errorf("Result = %+v, want ExitCode 0, not Killed, stdout %q", res, "started\n")
			}
			if processGone(pid) || syscall.Kill(pid, 0) != nil {
				t.Errorf("background process %d is gone, want it left running", pid)
			}
			if n := r.Running(); n != 0 {
				t.Errorf("Running() = %d, want 0", n)
			}
		})
	}
}
