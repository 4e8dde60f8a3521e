package controller

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller/controllertest"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/reconcile"
)

// waitTimeout bounds every wait of the tests: reached only when a test fails.
const waitTimeout = 10 * time.Second

// harness runs a Controller with a fake runner and a recording logger.
type harness struct {
	t      *testing.T
	c      *Controller
	runner *controllertest.Runner
	logs   *controllertest.LogRecorder
	// shutdownTimeout is passed to Run.
	shutdownTimeout time.Duration

	cancel context.CancelFunc
	done   chan error
}

// newHarness makes a controller for cfg whose runs call fn (nil: succeed).
func newHarness(t *testing.T, cfg *config.Config, fn func(context.Context, reconcile.Command) (reconcile.Result, error), workers int) *harness {
	t.Helper()
	runner := &controllertest.Runner{Func: fn}
	h := &harness{
		t:               t,
		runner:          runner,
		logs:            &controllertest.LogRecorder{Verbosity: 1},
		shutdownTimeout: waitTimeout,
		c: New(Options{
			Config:  cfg,
			Runner:  runner,
			Workers: workers,
			Grace:   time.Second,
			Environ: []string{"PATH=/usr/bin:/bin"},
		}),
	}
	return h
}

// start runs the controller until the test ends or stop is called, and
// returns once Run has taken its logger.
func (h *harness) start() {
	h.t.Helper()
	ctx, cancel := context.WithCancel(logr.NewContext(context.Background(), h.logs.Logger()))
	h.cancel, h.done = cancel, make(chan error, 1)
	go func() { h.done <- h.c.Run(ctx, h.shutdownTimeout) }()
	h.t.Cleanup(func() { h.stop() })
	h.waitLog("Started workers", 1)
}

// stop cancels Run's context and returns what Run returned.
func (h *harness) stop() error {
	h.t.Helper()
	h.cancel()
	select {
	case err := <-h.done:
		h.done <- err // for a later stop
		return err
	case <-time.After(waitTimeout):
		h.t.Fatal("Run did not return")
		return nil
	}
}

// waitCtx returns a context that bounds one wait.
func (h *harness) waitCtx() context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	h.t.Cleanup(cancel)
	return ctx
}

// waitStarted waits for n runs to start and returns the commands.
func (h *harness) waitStarted(n int) []reconcile.Command {
	h.t.Helper()
	cmds, err := h.runner.WaitStarted(h.waitCtx(), n)
	if err != nil {
		h.t.Fatalf("%d runs started, want %d; log:\n%v", len(cmds), n, h.logs.Entries())
	}
	return cmds
}

// waitFinished waits for n runs to end and returns them.
func (h *harness) waitFinished(n int) []controllertest.Finished {
	h.t.Helper()
	fin, err := h.runner.WaitFinished(h.waitCtx(), n)
	if err != nil {
		h.t.Fatalf("%d runs finished (%d started), want %d; log:\n%v", len(fin), len(h.runner.Started()), n, h.logs.Entries())
	}
	return fin
}

// waitLog waits for n lines with message msg and returns them.
func (h *harness) waitLog(msg string, n int) []controllertest.Entry {
	h.t.Helper()
	found, err := h.logs.WaitFor(h.waitCtx(), msg, n)
	if err != nil {
		h.t.Fatalf("%d lines %q logged, want %d; log:\n%v", len(found), msg, n, h.logs.Entries())
	}
	return found
}

// env returns the value of name in cmd's environment.
func env(t *testing.T, cmd reconcile.Command, name string) string {
	t.Helper()
	v, ok := controllertest.Env(cmd, name)
	if !ok {
		t.Fatalf("%s not in the environment %q", name, cmd.Env)
	}
	return v
}

// start returns a start event of container id (named id) on engine local.
func start(id, eventID string) *informer.Event {
	return &informer.Event{
		ID: eventID, Engine: "local", Type: informer.TypeContainer, Action: "start", ActorID: id,
		Time:      time.Now(),
		Container: &informer.Container{ID: id, Engine: "local", Name: id, Image: "nginx", State: informer.StateRunning},
	}
}

// localConfig returns a config with engine local and rules.
func localConfig(rules ...config.Rule) *config.Config {
	return &config.Config{
		Engines: []config.Engine{{Name: "local", URL: "unix:///var/run/docker.sock"}},
		Rules:   rules,
	}
}

// fail is a runner result of a handler that exited with code 3.
func fail() (reconcile.Result, error) {
	return reconcile.Result{ExitCode: 3, Stdout: []byte("out\n"), Stderr: []byte("boom\n")}, &reconcile.ExitError{Code: 3}
}

// blockUntil returns a run that waits for release, or fails with ctx's error.
func blockUntil(ctx context.Context, release <-chan struct{}) (reconcile.Result, error) {
	select {
	case <-release:
		return reconcile.Result{}, nil
	case <-ctx.Done():
		return reconcile.Result{ExitCode: -1}, errors.Join(errors.New("handler cancelled"), ctx.Err())
	}
}
