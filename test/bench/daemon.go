package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// daemonOptions describe one run of docker-eventsd under test.
type daemonOptions struct {
	// Config is the text of events.yml.
	Config string
	// Env is added to the daemon's environment (handlers inherit it).
	Env []string
	// ProcEnv is added to the binary's environment only, not the handlers'
	// (GOMEMLIMIT, GOGC...); ignored in process.
	ProcEnv []string
	// Flags are extra flags of `docker-eventsd run`.
	Flags []string
	// Workers is --workers (0: the daemon's default).
	Workers int
	// Verbosity is -v.
	Verbosity int
	// LogMode, in process only, is "" (as the daemon logs) or "buffered"
	// (a what-if: see newZap).
	LogMode string
}

// daemon is a docker-eventsd under test: the real binary, or the same daemon
// (package daemon, which the binary runs) in the bench's process. Either way
// it logs JSON lines to Log, which benchmarks count.
type daemon struct {
	Log     string
	Started time.Time
	// cpu0 is the process's CPU time when the daemon started (in process).
	cpu0   time.Duration
	cmd    *exec.Cmd
	done   chan struct{}
	cancel context.CancelFunc
	// lag, in process only, records now - event time as the informers hand
	// container events to the controller (daemon.Options.Observe).
	lag *histogram
	// handled counts the events handed to the controller (in process only).
	handled *counter
}

// startDaemon runs the daemon: the binary at bin, or in process when bin is
// "". It writes the config and the log under dir.
func startDaemon(dir, bin string, o daemonOptions) (*daemon, error) {
	cfgPath := filepath.Join(dir, "events.yml")
	if err := os.WriteFile(cfgPath, []byte(o.Config), 0o644); err != nil {
		return nil, err
	}
	d := &daemon{Log: filepath.Join(dir, "daemon.log"), done: make(chan struct{})}
	if err := os.Remove(d.Log); err != nil && !os.IsNotExist(err) {
		return nil, err
	}
	args := []string{"run", "-c", cfgPath, "--log-format", "json", "-v", strconv.Itoa(o.Verbosity)}
	if o.Workers > 0 {
		args = append(args, "--workers", strconv.Itoa(o.Workers))
	}
	args = append(args, o.Flags...)
	if bin != "" && supportsListen(bin) {
		// An endpoint port of its own: never the default another daemon holds.
		args = append(args, "--listen", "127.0.0.1:0")
	}
	if bin != "" {
		f, err := os.Create(d.Log)
		if err != nil {
			return nil, err
		}
		d.cmd = exec.Command(bin, args...)
		d.cmd.Env = append(append(os.Environ(), o.Env...), o.ProcEnv...)
		d.cmd.Stdout, d.cmd.Stderr = f, f
		d.Started = time.Now()
		if err := d.cmd.Start(); err != nil {
			f.Close()
			return nil, err
		}
		go func() {
			_ = d.cmd.Wait()
			f.Close()
			close(d.done)
		}()
		return d, nil
	}
	return d, d.startInProcess(cfgPath, o)
}

// Pid returns the daemon's process ID (the bench's own when in process).
func (d *daemon) Pid() int {
	if d.cmd != nil {
		return d.cmd.Process.Pid
	}
	return os.Getpid()
}

// InProcess reports whether the daemon runs in the bench's process.
func (d *daemon) InProcess() bool { return d.cmd == nil }

// Stop stops the daemon (SIGTERM, or cancel in process) and waits.
func (d *daemon) Stop() error {
	if d.cmd != nil {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-d.done:
		case <-time.After(20 * time.Second):
			_ = d.cmd.Process.Kill()
			<-d.done
			return errors.New("daemon did not stop within 20s; killed")
		}
		return nil
	}
	d.cancel()
	<-d.done
	return nil
}

// Exited reports whether the daemon has exited.
func (d *daemon) Exited() bool {
	select {
	case <-d.done:
		return true
	default:
		return false
	}
}

// waitLog waits until the daemon's log holds n lines containing s, and
// returns when the n-th was counted.
func (d *daemon) waitLog(s string, n int, timeout time.Duration) (time.Time, error) {
	t := newTail(d.Log, s)
	deadline := time.Now().Add(timeout)
	for {
		if c := t.count(); c >= int64(n) {
			return time.Now(), nil
		}
		if d.Exited() {
			return time.Time{}, fmt.Errorf("daemon exited; log %s has %d lines with %q, want %d", d.Log, t.count(), s, n)
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("log %s has %d lines with %q after %v, want %d", d.Log, t.count(), s, timeout, n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// supportsListen reports whether the daemon binary has --listen (the binary
// of an older commit, run for a before/after comparison, may not).
func supportsListen(bin string) bool {
	out, err := exec.Command(bin, "run", "--help").CombinedOutput()
	return err == nil && strings.Contains(string(out), "--listen ")
}
