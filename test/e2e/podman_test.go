package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

// podmanEngine returns the URL of the Podman engine that hack/podman.sh runs
// (EVENTSD_TEST_PODMAN, unix:///tmp/eventsd-podman/podman.sock), skipping the
// test without it, except in CI, where it must be up (make test starts it).
func podmanEngine(t *testing.T) string {
	t.Helper()
	url := os.Getenv("EVENTSD_TEST_PODMAN")
	if url == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("EVENTSD_TEST_PODMAN is not set: in CI the Podman engine must be up (make test starts it)")
		}
		t.Skip("no Podman engine: run make test or hack/podman.sh up")
	}
	return url
}

// podmanCtl runs hack/podman.sh (EVENTSD_TEST_PODMANCTL) with args and
// returns its output.
func podmanCtl(t *testing.T, args ...string) string {
	t.Helper()
	ctl := os.Getenv("EVENTSD_TEST_PODMANCTL")
	if ctl == "" {
		t.Fatal("EVENTSD_TEST_PODMANCTL is not set")
	}
	out, err := exec.Command(ctl, args...).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("podman.sh %s: %v\n%s", strings.Join(args, " "), err, stderr)
	}
	return strings.TrimSpace(string(out))
}

func podmanImage() string {
	if v := os.Getenv("EVENTSD_TEST_PODMAN_IMAGE"); v != "" {
		return v
	}
	return testenv.DefaultImage
}

// TestPodmanRulesWrittenForDockerFireWithDockersEnv runs the daemon against
// the real Podman service (through its Docker-compatible API) with rules
// written for Docker: start, die and destroy fire with the env they have on
// Docker, from real events (not synthesized: the server-side filter asks for
// Podman's names too), and a killed and restarted service gives engine_down
// and engine_up, with the die of a container killed meanwhile replayed from
// Podman's events file.
func TestPodmanRulesWrittenForDockerFireWithDockersEnv(t *testing.T) {
	url := podmanEngine(t)
	img := podmanImage()
	prefix := unique("pm")
	cfg := fmt.Sprintf(`
cluster:
  pod: %[1]s
events:
  - name: lifecycle
    type: [start, die, destroy]
    from_container: %[2]s-*
    command: '%[3]s'
  - name: outage
    type: [engine_down, engine_up]
    command: '%[3]s'
`, url, prefix, recordCmd)
	d := startDaemon(t, cfg, 1)

	name := prefix + "-exit7"
	id := testenv.RunContainer(t, url, name, img, "sh", "-c", "sleep 1; exit 7")
	start := d.waitRun("lifecycle", map[string]string{"EVENT_ACTION": "start", "FROM_CONTAINER": name}, 30*time.Second)
	die := d.waitRun("lifecycle", map[string]string{"EVENT_ACTION": "die", "FROM_CONTAINER": name}, 30*time.Second)
	testenv.Docker(t, url, "rm", name)
	destroy := d.waitRun("lifecycle", map[string]string{"EVENT_ACTION": "destroy", "FROM_CONTAINER": name}, 30*time.Second)
	for _, r := range []run{start, die, destroy} {
		typ := r.Env["EVENT_ACTION"]
		want := map[string]string{
			"EVENT_TYPE":      "container",
			"EVENT_SYNTHETIC": "0",
			"FROM_ENGINE":     "pod",
			"FROM_ENGINE_URL": url,
			"CONTAINER_ID":    id,
		}
		for k, v := range want {
			if r.Env[k] != v {
				t.Errorf("%s: %s=%q, want %q", typ, k, r.Env[k], v)
			}
		}
		// Podman names images as it stores them: localhost/NAME.
		if img := r.Env["CONTAINER_IMAGE"]; !strings.HasSuffix(img, podmanImage()) {
			t.Errorf("%s: CONTAINER_IMAGE=%q, want ...%s", typ, img, podmanImage())
		}
	}
	if got := die.Env["CONTAINER_EXIT_CODE"]; got != "7" {
		t.Errorf("die: CONTAINER_EXIT_CODE=%q, want 7", got)
	}
	if n := d.countRuns("lifecycle", map[string]string{"FROM_CONTAINER": name}); n != 3 {
		t.Errorf("%d runs for %s, want 3 (start, die, destroy)", n, name)
	}

	// The outage: the service is SIGKILLed; its containers keep running under
	// conmon. One is killed while the API is down (the podman CLI needs no
	// service) and the service is started again.
	long := prefix + "-long"
	testenv.RunContainer(t, url, long, img, "sleep", "600")
	d.waitRun("lifecycle", map[string]string{"EVENT_ACTION": "start", "FROM_CONTAINER": long}, 30*time.Second)
	podmanCtl(t, "kill")
	t.Cleanup(func() {
		if out, err := exec.Command(os.Getenv("EVENTSD_TEST_PODMANCTL"), "start").CombinedOutput(); err != nil {
			t.Errorf("restarting the Podman service after the test: %v\n%s", err, out)
		}
	})
	down := d.waitRun("outage", map[string]string{"EVENT_ACTION": "engine_down", "FROM_ENGINE": "pod"}, 15*time.Second)
	if down.Env["EVENT_SYNTHETIC"] != "1" {
		t.Errorf("engine_down: EVENT_SYNTHETIC=%q, want 1", down.Env["EVENT_SYNTHETIC"])
	}
	podmanCtl(t, "cli", "kill", long)
	podmanCtl(t, "start")
	d.waitRun("outage", map[string]string{"EVENT_ACTION": "engine_up", "FROM_ENGINE": "pod"}, 60*time.Second)
	killed := d.waitRun("lifecycle", map[string]string{"EVENT_ACTION": "die", "FROM_CONTAINER": long}, 30*time.Second)
	if killed.Env["CONTAINER_EXIT_CODE"] != "137" {
		t.Errorf("die while down: CONTAINER_EXIT_CODE=%q, want 137", killed.Env["CONTAINER_EXIT_CODE"])
	}
	// Podman's events file keeps every event: the die is replayed, not synthesized.
	if killed.Env["EVENT_SYNTHETIC"] != "0" {
		t.Errorf("die while down: EVENT_SYNTHETIC=%q, want 0 (replayed)", killed.Env["EVENT_SYNTHETIC"])
	}
	if n := d.countRuns("outage", map[string]string{"EVENT_ACTION": "engine_down"}); n != 1 {
		t.Errorf("%d engine_down runs for one outage, want 1", n)
	}
}
