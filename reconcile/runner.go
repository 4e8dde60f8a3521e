package reconcile

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"syscall"
	"time"
)

const (
	// DefaultGrace is the time a stopped handler gets between SIGTERM and
	// SIGKILL when Command.Grace is zero: long enough to clean up, short
	// enough not to stall the daemon's shutdown.
	DefaultGrace = 5 * time.Second
	// DefaultMaxOutput is the number of bytes kept per output stream when
	// Options.MaxOutput is zero: plenty for a log line, bounded for a flood.
	DefaultMaxOutput = 64 << 10
	// DefaultShell is the shell that interprets Command.Script when
	// Options.Shell is empty; it is the one POSIX guarantees.
	DefaultShell = "/bin/sh"
	// DefaultWaitDelay bounds, when Options.WaitDelay is zero, how long Run
	// waits for the output pipes after the shell exited, so a background
	// process that inherited them cannot hold Run.
	DefaultWaitDelay = time.Second
)

// Command is one handler run. The zero value of each field is a sensible
// default except Env, which the caller always fills: nothing is inherited from
// the daemon.
type Command struct {
	// Script is run as Shell -c Script.
	Script string
	// Env is the complete environment of the shell, KEY=VALUE. Values are
	// passed verbatim and never interpreted. A nil Env means an empty one.
	Env []string
	// Stdin is written to the shell's stdin, which is then closed. A handler
	// that does not read it is not blocked. Empty means stdin is /dev/null.
	Stdin []byte
	// Dir is the working directory; "" means the daemon's.
	Dir string
	// Timeout stops the handler after this long; zero means no timeout.
	Timeout time.Duration
	// Grace is the time between SIGTERM and SIGKILL when the handler is
	// stopped; zero means DefaultGrace.
	Grace time.Duration
}

// Result reports how a handler run ended, whatever the error, so the caller
// can log and expose it.
type Result struct {
	// ExitCode is the shell's exit status, or -1 when it was killed by a
	// signal or did not start.
	ExitCode int
	// Stdout holds at most Options.MaxOutput bytes: the last ones written.
	Stdout []byte
	// Stderr holds at most Options.MaxOutput bytes: the last ones written.
	Stderr []byte
	// Truncated reports that some output of either stream was dropped.
	Truncated bool
	// Duration is the time from start until Run was done with the handler.
	Duration time.Duration
	// TimedOut reports that Command.Timeout stopped the handler.
	TimedOut bool
	// Killed reports that SIGKILL was needed: the shell did not exit within
	// Grace after SIGTERM, or KillAll killed it. The SIGKILL sweep of the
	// group after a stopped shell died is not reported.
	Killed bool
	// PID is the shell's process ID, which is also its process group ID;
	// zero if it did not start.
	PID int
}

// Options configures a Runner. The zero value is ready to use.
type Options struct {
	// MaxOutput is the number of bytes kept per output stream; zero or less
	// means DefaultMaxOutput.
	MaxOutput int
	// Shell interprets scripts; "" means DefaultShell.
	Shell string
	// WaitDelay bounds how long Run waits for the output and input pipes
	// once the shell has exited; zero or less means DefaultWaitDelay.
	WaitDelay time.Duration
}

// Runner runs handlers and keeps track of the ones running, so the daemon can
// kill them all at once on a forced exit. It is safe for concurrent use; the
// zero value is not usable, call NewRunner.
type Runner struct {
	shell     string
	waitDelay time.Duration
	// rings holds the output buffers, Options.MaxOutput bytes each, reused
	// from one run to the next.
	rings  *ringPool
	groups groups
}

// NewRunner returns a Runner configured by opts, with defaults filled in.
func NewRunner(opts Options) *Runner {
	r := &Runner{shell: opts.Shell, waitDelay: opts.WaitDelay}
	if r.shell == "" {
		r.shell = DefaultShell
	}
	maxOutput := opts.MaxOutput
	if maxOutput <= 0 {
		maxOutput = DefaultMaxOutput
	}
	r.rings = newRingPool(maxOutput)
	if r.waitDelay <= 0 {
		r.waitDelay = DefaultWaitDelay
	}
	return r
}

// Run runs cmd in its own process group and waits for it. It returns a nil
// error iff the shell exited with status 0; otherwise the error is an
// *ExitError, or wraps ErrTimeout after a timeout, ctx.Err() after ctx was
// done, or the cause of a failure to start. The Result is filled in all cases.
//
// When stopped by the timeout or ctx, the group gets SIGTERM, then SIGKILL
// after cmd.Grace, and is swept with SIGKILL once the shell is dead.
func (r *Runner) Run(ctx context.Context, cmd Command) (Result, error) {
	res := Result{ExitCode: -1}
	if err := ctx.Err(); err != nil {
		return res, fmt.Errorf("handler not started: %w", err)
	}
	grace := cmd.Grace
	if grace <= 0 {
		grace = DefaultGrace
	}

	stdout, stderr := newTailBuffer(r.rings), newTailBuffer(r.rings)
	// The drains have ended on every path below: nothing writes to them any
	// more.
	defer stdout.release()
	defer stderr.release()
	p, err := openPipes(cmd.Stdin)
	if err != nil {
		return res, fmt.Errorf("start handler: %w", err)
	}
	c := exec.Command(r.shell, "-c", cmd.Script)
	c.Env = cmd.Env
	if c.Env == nil {
		c.Env = []string{} // nil would make os/exec inherit the daemon's
	}
	c.Dir = cmd.Dir
	if p.stdin != nil {
		c.Stdin = p.stdin
	}
	c.Stdout, c.Stderr = p.stdout, p.stderr
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	// Bounds os/exec's copy of a stdin too large for the pipe, if any.
	c.WaitDelay = r.waitDelay

	start := time.Now()
	err = c.Start()
	p.closeChild()
	if err != nil {
		p.closeParent()
		res.Duration = time.Since(start)
		return res, fmt.Errorf("start handler: %w", err)
	}
	drained := p.drain(&stdout, &stderr)
	res.PID = c.Process.Pid
	g := r.groups.add(c.Process.Pid)

	done := make(chan error, 1)
	go func() { done <- c.Wait() }()

	var timeout <-chan time.Time
	if cmd.Timeout > 0 {
		t := time.NewTimer(cmd.Timeout)
		defer t.Stop()
		timeout = t.C
	}
	var waitErr, stopErr error
	select {
	case waitErr = <-done:
	case <-timeout:
		res.TimedOut = true
		stopErr = fmt.Errorf("%w after %s", ErrTimeout, cmd.Timeout)
	case <-ctx.Done():
		stopErr = fmt.Errorf("handler cancelled: %w", ctx.Err())
	}
	if stopErr != nil {
		var sigErr error
		waitErr, res.Killed, sigErr = terminate(g.pgid, grace, done)
		// The shell is dead: kill what is left of its group, such as a
		// grandchild that ignored SIGTERM. The group ID cannot have been
		// reused while any member lives.
		stopErr = errors.Join(stopErr, sigErr, signalGroup(g.pgid, syscall.SIGKILL))
	}
	if r.groups.remove(g) {
		res.Killed = true
	}
	// The shell is reaped (and after a stop its group swept): the output
	// ends when its last writer does, or is cut after the wait delay.
	p.await(drained, r.waitDelay)

	res.Duration = time.Since(start)
	res.Stdout, res.Stderr = stdout.Bytes(), stderr.Bytes()
	res.Truncated = stdout.Truncated() || stderr.Truncated()
	res.ExitCode = c.ProcessState.ExitCode()
	if stopErr != nil {
		return res, stopErr
	}
	return res, exitError(c.ProcessState, waitErr)
}

// terminate stops a running group: SIGTERM, then SIGKILL if the shell has not
// exited within grace. It returns Wait's error, whether SIGKILL was sent, and
// any failure to signal.
func terminate(pgid int, grace time.Duration, done <-chan error) (waitErr error, killed bool, sigErr error) {
	sigErr = signalGroup(pgid, syscall.SIGTERM)
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case waitErr = <-done:
		return waitErr, false, sigErr
	case <-t.C:
	}
	sigErr = errors.Join(sigErr, signalGroup(pgid, syscall.SIGKILL))
	return <-done, true, sigErr
}

// exitError turns the result of Cmd.Wait for a shell that ended on its own
// into Run's error. exec.ErrWaitDelay after a successful exit only means a
// background process kept the pipes open, which handlers may do.
func exitError(ps *os.ProcessState, waitErr error) error {
	if waitErr == nil || (errors.Is(waitErr, exec.ErrWaitDelay) && ps.Success()) {
		return nil
	}
	var ee *exec.ExitError
	if !errors.As(waitErr, &ee) {
		return fmt.Errorf("wait for handler: %w", waitErr)
	}
	e := &ExitError{Code: ps.ExitCode()}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = ws.Signal().String()
	}
	return e
}
