package controllertest

import (
	"context"
	"strings"
	"sync"

	"github.com/samalba/docker-eventsd/reconcile"
)

// Runner is a fake controller.Runner: it records each command and lets Func
// decide how the run ends. Waiting for calls needs no sleeping: see
// WaitStarted and WaitFinished. It is safe for concurrent use.
type Runner struct {
	// Func, when set, is called for every run, concurrently; nil means every
	// run succeeds at once with exit code 0.
	Func func(ctx context.Context, cmd reconcile.Command) (reconcile.Result, error)

	mu       sync.Mutex
	started  []reconcile.Command
	finished []Finished
	// changed is closed and replaced whenever a call starts or finishes.
	changed chan struct{}
}

// Finished is a run that ended.
type Finished struct {
	Cmd    reconcile.Command
	Result reconcile.Result
	Err    error
}

// Run records cmd and returns what Func returns.
func (r *Runner) Run(ctx context.Context, cmd reconcile.Command) (reconcile.Result, error) {
	r.record(func() { r.started = append(r.started, cmd) })
	var (
		res reconcile.Result
		err error
	)
	if r.Func != nil {
		res, err = r.Func(ctx, cmd)
	}
	r.record(func() { r.finished = append(r.finished, Finished{Cmd: cmd, Result: res, Err: err}) })
	return res, err
}

// record runs f under the lock and wakes the waiters.
func (r *Runner) record(f func()) {
	r.mu.Lock()
	defer r.mu.Unlock()
	f()
	if r.changed != nil {
		close(r.changed)
		r.changed = nil
	}
}

// Started returns the commands run so far, in the order the runs started.
func (r *Runner) Started() []reconcile.Command {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]reconcile.Command(nil), r.started...)
}

// Finished returns the runs that ended, in the order they ended.
func (r *Runner) Finished() []Finished {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Finished(nil), r.finished...)
}

// WaitStarted waits until n runs have started or ctx is done, and returns
// the commands started so far.
func (r *Runner) WaitStarted(ctx context.Context, n int) ([]reconcile.Command, error) {
	if err := r.wait(ctx, func() bool { return len(r.started) >= n }); err != nil {
		return r.Started(), err
	}
	return r.Started(), nil
}

// WaitFinished waits until n runs have ended or ctx is done, and returns the
// runs ended so far.
func (r *Runner) WaitFinished(ctx context.Context, n int) ([]Finished, error) {
	if err := r.wait(ctx, func() bool { return len(r.finished) >= n }); err != nil {
		return r.Finished(), err
	}
	return r.Finished(), nil
}

// wait waits until cond, called under the lock, is true.
func (r *Runner) wait(ctx context.Context, cond func() bool) error {
	for {
		r.mu.Lock()
		if cond() {
			r.mu.Unlock()
			return nil
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// Env returns the value of name in the environment of cmd (the last one if
// set twice) and whether it is set.
func Env(cmd reconcile.Command, name string) (string, bool) {
	for i := len(cmd.Env) - 1; i >= 0; i-- {
		if k, v, ok := strings.Cut(cmd.Env[i], "="); ok && k == name {
			return v, true
		}
	}
	return "", false
}
