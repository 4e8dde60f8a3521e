// Package testenv gives Go tests the real Docker engines that hack/engines.sh
// runs on this machine.
//
// `make test` (hack/test.sh) starts the engines and exports their description;
// by hand: `hack/engines.sh up && set -a && . /tmp/eventsd-engines/env && set +a`.
// The variables are:
//
//	EVENTSD_TEST_ENGINES    a=tcp://127.0.0.1:23751,b=tcp://127.0.0.1:23752
//	EVENTSD_TEST_IMAGE      eventsd-busybox:latest (busybox only, no network)
//	EVENTSD_TEST_ENGINECTL  absolute path of hack/engines.sh (kill/start/stop)
//	EVENTSD_TEST_DOCKER     docker CLI to use (default /usr/bin/docker, else PATH)
//	EVENTSD_ENGINES_DIR     where the engines keep their state
//
// Without EVENTSD_TEST_ENGINES the helpers skip the test, except in CI
// (CI=true), where a missing engine is a failure.
//
// The engines are dockerd 20.10 (API 1.41): Go clients must negotiate the API
// version. Containers have no network: use --network none (RunContainer's
// default) or host. All test packages share the engines, and go test runs
// packages in parallel: use unique container names, and remember that a test
// killing an engine is seen by every other test using it at that moment.
package testenv

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// DefaultImage is the image that hack/engines.sh builds on every engine.
const DefaultImage = "eventsd-busybox:latest"

// cmdTimeout bounds every docker or engines.sh command a helper runs.
const cmdTimeout = 2 * time.Minute

// noEngines skips the test, or fails it in CI.
func noEngines(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: in CI the test engines must be up (make test starts them)", why)
	}
	t.Skip("no test engines: run make test or hack/engines.sh up")
}

// Engines returns the test engines, name → URL (tcp://127.0.0.1:PORT), from
// EVENTSD_TEST_ENGINES. It skips the test when the variable is unset, or fails
// it in CI.
func Engines(t testing.TB) map[string]string {
	t.Helper()
	v := os.Getenv("EVENTSD_TEST_ENGINES")
	if v == "" {
		noEngines(t, "EVENTSD_TEST_ENGINES is not set")
	}
	engines := map[string]string{}
	for _, kv := range strings.Split(v, ",") {
		name, url, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok || name == "" || url == "" {
			t.Fatalf("EVENTSD_TEST_ENGINES=%q: want name=url[,name=url...]", v)
		}
		engines[name] = url
	}
	return engines
}

// Image returns the test image (EVENTSD_TEST_IMAGE, default DefaultImage),
// present on every engine: busybox, with sleep, sh, true, etc.
func Image(t testing.TB) string {
	t.Helper()
	if v := os.Getenv("EVENTSD_TEST_IMAGE"); v != "" {
		return v
	}
	return DefaultImage
}

// KillEngine SIGKILLs every process of the engine NAME (dockerd, containerd,
// shims and containers), as when its host dies. The engine stays down until
// StartEngine; a cleanup restarts it if the test did not.
func KillEngine(t testing.TB, name string) {
	t.Helper()
	engineCtl(t, "kill", name)
	t.Cleanup(func() { restartAfterTest(t, name) })
}

// StartEngine starts the engine NAME again (same port, same state) and returns
// once it answers. Its containers were stopped: they show as exited.
func StartEngine(t testing.TB, name string) {
	t.Helper()
	engineCtl(t, "start", name)
}

// StopEngine stops the engine NAME gracefully (SIGTERM: dockerd stops its
// containers first) and returns once it is gone. The engine stays down until
// StartEngine; a cleanup restarts it if the test did not.
func StopEngine(t testing.TB, name string) {
	t.Helper()
	engineCtl(t, "stop", name)
	t.Cleanup(func() { restartAfterTest(t, name) })
}

// restartAfterTest brings an engine back for the next tests (a no-op when it
// is running).
func restartAfterTest(t testing.TB, name string) {
	t.Helper()
	if _, stderr, err := run(enginectl(t), "start", name); err != nil {
		t.Errorf("restarting engine %s after the test: %v\n%s", name, err, stderr)
	}
}

func enginectl(t testing.TB) string {
	t.Helper()
	ctl := os.Getenv("EVENTSD_TEST_ENGINECTL")
	if ctl == "" {
		noEngines(t, "EVENTSD_TEST_ENGINECTL is not set")
	}
	return ctl
}

func engineCtl(t testing.TB, verb, name string) {
	t.Helper()
	if _, stderr, err := run(enginectl(t), verb, name); err != nil {
		t.Fatalf("engines.sh %s %s: %v\n%s", verb, name, err, stderr)
	}
}

// Docker runs the docker CLI against the engine at engineURL
// (docker -H engineURL args...) and returns its trimmed standard output. A
// failure fails the test, with docker's standard error.
func Docker(t testing.TB, engineURL string, args ...string) string {
	t.Helper()
	stdout, stderr, err := run(dockerBin(), append([]string{"-H", engineURL}, args...)...)
	if err != nil {
		t.Fatalf("docker -H %s %s: %v\n%s", engineURL, strings.Join(args, " "), err, stderr)
	}
	return stdout
}

// RunContainer starts a detached container named name on the engine:
// `docker run -d --network none --name NAME args...`, where args are further
// run options, then the image, then the command, e.g.
//
//	RunContainer(t, url, "web-1", "--label", "lb=web", Image(t), "sleep", "600")
//
// An empty name lets docker choose one. It returns the container's full ID and
// removes the container (docker rm -f) when the test ends.
func RunContainer(t testing.TB, engineURL, name string, args ...string) (id string) {
	t.Helper()
	runArgs := []string{"run", "-d", "--network", "none"}
	if name != "" {
		runArgs = append(runArgs, "--name", name)
	}
	id = Docker(t, engineURL, append(runArgs, args...)...)
	t.Cleanup(func() {
		// The engine may be down (a test killed it): not this test's failure.
		if _, stderr, err := run(dockerBin(), "-H", engineURL, "rm", "-f", id); err != nil {
			t.Logf("removing container %s: %v: %s", id, err, stderr)
		}
	})
	return id
}

// dockerBin is the docker CLI: EVENTSD_TEST_DOCKER, else Debian's
// /usr/bin/docker (same version as the engines), else docker from PATH.
func dockerBin() string {
	if v := os.Getenv("EVENTSD_TEST_DOCKER"); v != "" {
		return v
	}
	if _, err := os.Stat("/usr/bin/docker"); err == nil {
		return "/usr/bin/docker"
	}
	return "docker"
}

// run runs a command with a timeout and returns its trimmed stdout and stderr.
func run(name string, args ...string) (stdout, stderr string, err error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	var out, errb bytes.Buffer
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err = cmd.Run()
	return strings.TrimSpace(out.String()), strings.TrimSpace(errb.String()), err
}
