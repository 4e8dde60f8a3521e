package contract_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/go-logr/logr"
	"github.com/go-logr/logr/testr"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// scenario is one run: a client, an informer, the names used.
type scenario struct {
	ctx    context.Context
	cli    *client.Client
	inf    *informer.Informer
	rec    *recorder
	prefix string
	image  string
	// lines is the transcript.
	lines []string
	// seen is how many recorded events are in the transcript or passed over.
	seen int
	// err is the run's first failure: every step after it does nothing.
	err error
	// markers are the containers made by warmUp and sync, removed by cleanup.
	markers []string
	// notes are what the run tolerated, for the test's log.
	notes []string
}

// runScenarioOnce runs the scenario once on the engine at url.
func runScenarioOnce(t *testing.T, kind, url, image string) ([]string, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(logr.NewContext(context.Background(), testr.NewWithOptions(t, testr.Options{Verbosity: 1})), 3*time.Minute)
	defer cancel()
	cli, err := client.New(client.WithHost(url))
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	if err := waitEngine(ctx, cli); err != nil {
		return nil, err
	}
	icli, err := informer.NewClient(config.Engine{Name: kind, URL: url})
	if err != nil {
		return nil, err
	}
	defer icli.Close()
	rec := &recorder{}
	// Only the actions the cache needs, as a daemon whose rules name none
	// else: exec noise is filtered by the engine.
	inf := informer.New(informer.Options{Name: kind, URL: url, Client: icli, Handler: rec, Actions: []string{},
		Heartbeat: time.Second, MinBackoff: 50 * time.Millisecond, MaxBackoff: 500 * time.Millisecond})
	ictx, icancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		inf.Run(ictx)
	}()
	defer func() {
		icancel()
		<-done
	}()
	select {
	case <-inf.Synced():
	case <-time.After(30 * time.Second):
		if err := rec.interrupted(); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("informer did not sync")
	}
	s := &scenario{ctx: ctx, cli: cli, inf: inf, rec: rec, image: image,
		prefix: fmt.Sprintf("contract-%d-", time.Now().UnixNano()%1e9)}
	defer s.cleanup()
	s.warmUp()
	s.run()
	for _, n := range s.notes {
		t.Logf("%s: %s", kind, n)
	}
	if gap := rec.interrupted(); gap != nil {
		if s.err != nil && !errors.Is(s.err, errInterrupted) {
			return nil, fmt.Errorf("%w; the run: %v", gap, s.err)
		}
		return nil, gap
	}
	return s.lines, s.err
}

func (s *scenario) name(n string) string { return s.prefix + n }

func (s *scenario) cleanup() {
	names := s.markers
	for _, n := range []string{"web", "web2", "quitter", "restarted"} {
		names = append(names, s.name(n))
	}
	for _, n := range names {
		_, _ = s.cli.ContainerRemove(context.Background(), n, client.ContainerRemoveOptions{Force: true})
	}
}

// fail records the run's first failure.
func (s *scenario) fail(err error) {
	if s.err == nil {
		s.err = err
	}
}

// errOf returns the error of a call that returns a value and an error.
func errOf[T any](_ T, err error) error { return err }

// check records an API error.
func (s *scenario) check(what string, err error) {
	if err != nil {
		s.fail(fmt.Errorf("%s: %s: %w", s.inf.Name(), what, err))
	}
}

// do makes one API call on the container name, unless the run failed.
func (s *scenario) do(what, name string, call func(id string) error) {
	if s.err == nil {
		s.check(what+" "+name, call(s.name(name)))
	}
}

// trap ignores SIGUSR1 (and, as PID 1, SIGTERM).
var trap = []string{"sh", "-c", `trap "" USR1; while true; do sleep 1; done`}

func (s *scenario) create(name string, cmd []string, labels map[string]string, health bool) {
	if s.err != nil {
		return
	}
	cfg := &container.Config{Image: s.image, Cmd: cmd, Labels: labels}
	if health {
		cfg.Healthcheck = &container.HealthConfig{Test: []string{"CMD-SHELL", "test ! -e /sick"}, Interval: 500 * time.Millisecond, Retries: 1}
	}
	s.check("create "+name, errOf(s.cli.ContainerCreate(s.ctx, client.ContainerCreateOptions{Name: s.name(name), Config: cfg,
		HostConfig: &container.HostConfig{NetworkMode: "none"}})))
}

// startExec starts a command in the container, detached, and returns the
// exec's ID.
func (s *scenario) startExec(name string, cmd ...string) (string, error) {
	x, err := s.cli.ExecCreate(s.ctx, s.name(name), client.ExecCreateOptions{Cmd: cmd})
	if err != nil {
		return "", err
	}
	return x.ID, errOf(s.cli.ExecStart(s.ctx, x.ID, client.ExecStartOptions{Detach: true}))
}

// exec starts a command in the container, detached.
func (s *scenario) exec(name string, cmd ...string) {
	if s.err == nil {
		s.check(fmt.Sprintf("exec %q in %s", cmd, name), errOf(s.startExec(name, cmd...)))
	}
}

// execWait runs a command in the container to its end and returns its exit
// status (-1 after a failure).
func (s *scenario) execWait(name string, cmd ...string) int {
	if s.err != nil {
		return -1
	}
	id, err := s.startExec(name, cmd...)
	s.check(fmt.Sprintf("exec %q in %s", cmd, name), err)
	return s.execEnd(id, fmt.Sprintf("exec %q in %s", cmd, name))
}

// execEnd waits for the end of an exec and returns its exit status (-1
// after a failure).
func (s *scenario) execEnd(id, what string) int {
	var res client.ExecInspectResult
	s.waitFor("the end of "+what, func() (bool, string) {
		var err error
		res, err = s.cli.ExecInspect(s.ctx, id, client.ExecInspectOptions{})
		return err == nil && !res.Running, fmt.Sprintf("%+v, %v", res, err)
	})
	if s.err != nil {
		return -1
	}
	return res.ExitCode
}

// waitCommand waits until the trap command is the container's process 1. A
// real engine reports start when runc has let its init process go on, before
// that process has exec'd the command: a SIGTERM then reaches runc's Go init
// as PID 1, which exits with status 2 instead of ignoring it, and a restart
// right after the start gives die with exit 2 instead of 137. The fake runs
// any command but its few (touch, rm, test...) as a success.
func (s *scenario) waitCommand(name string) {
	s.waitFor(name+" running its command", func() (bool, string) {
		code := s.execWait(name, "grep", "-q", "trap", "/proc/1/cmdline")
		return code == 0, fmt.Sprintf("exit status %d", code)
	})
}
