package e2e

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

func TestDaemonKilledAndRestartedWithStateDirLosesNothing(t *testing.T) {
	engines := testenv.Engines(t)
	img := testenv.Image(t)
	prefix := unique("durable")
	// failover: the die that must never be missed. slow: a handler that fails
	// its first attempt, so that a delivery is pending when the daemon dies.
	cfg := fmt.Sprintf(`
cluster:
  a: %s
events:
  - name: failover
    type: die
    from_container: '%s-*'
    command: '%s'
  - name: slow
    type: start
    from_container: '%s-*'
    retry: {max_attempts: 5, backoff: 3s}
    command: '%s; [ "$EVENT_ATTEMPT" -ge 2 ]'
`, engines["a"], prefix, recordCmd, prefix, recordCmd)
	out := t.TempDir()
	state := filepath.Join(t.TempDir(), "state") // created by the daemon
	path := filepath.Join(out, "events.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d := launchDaemon(t, path, out, "", nil, 1, "--state-dir", state)

	master := prefix + "-master"
	testenv.RunContainer(t, engines["a"], master, img, "sleep", "600")
	first := d.waitRun("slow", map[string]string{"FROM_CONTAINER": master, "EVENT_ATTEMPT": "1"}, 30*time.Second)
	d.waitLog(`"msg":"Handler failed"`, 1, 30*time.Second)
	// The checkpoint (every second) now has the master running, and the
	// journal the failed attempt.
	time.Sleep(1500 * time.Millisecond)
	d.stop(syscall.SIGKILL)

	// While the daemon is dead the master dies, and its die (and the rest)
	// is pushed out of the engine's 256-event ring.
	testenv.Docker(t, engines["a"], "kill", master)
	for i := 0; i < 140; i++ {
		v := fmt.Sprintf("%s-flush-%d", prefix, i)
		testenv.Docker(t, engines["a"], "volume", "create", v)
		testenv.Docker(t, engines["a"], "volume", "rm", v)
	}
	if ring := testenv.Docker(t, engines["a"], "events", "--since", "0", "--until", "0s", "--filter", "container="+master); strings.Contains(ring, " die ") {
		t.Fatalf("the die is still in the engine's ring:\n%s", ring)
	}

	d2 := launchDaemon(t, path, out, "", nil, 1, "--state-dir", state)
	die := d2.waitRun("failover", map[string]string{"FROM_CONTAINER": master, "EVENT_ACTION": "die"}, 30*time.Second)
	if die.Env["EVENT_SYNTHETIC"] != "1" || die.Env["CONTAINER_EXIT_CODE"] != "137" {
		t.Errorf("die after restart: synthetic=%q exit=%q, want 1 and 137", die.Env["EVENT_SYNTHETIC"], die.Env["CONTAINER_EXIT_CODE"])
	}
	again := d2.waitRun("slow", map[string]string{"FROM_CONTAINER": master, "EVENT_ATTEMPT": "2"}, 30*time.Second)
	if again.Env["EVENT_ID"] != first.Env["EVENT_ID"] {
		t.Errorf("pending delivery ran again with EVENT_ID %s, want %s", again.Env["EVENT_ID"], first.Env["EVENT_ID"])
	}
	d2.waitLog(`"msg":"Handler succeeded"`, 2, 30*time.Second)
	if n := d2.countRuns("failover", map[string]string{"FROM_CONTAINER": master}); n != 1 {
		t.Errorf("%d failover runs for one die, want 1", n)
	}
	if n := d2.countRuns("slow", map[string]string{"FROM_CONTAINER": master}); n != 2 {
		t.Errorf("%d slow runs, want 2 (one per attempt)", n)
	}
	if !strings.Contains(d2.Logs(), `"msg":"Recovered pending deliveries of an earlier run","queued":1`) {
		t.Errorf("the restart did not log the recovered delivery")
	}
}

func TestDaemonRefusesACorruptStateFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.db")
	garbage := bytes.Repeat([]byte("this is not a bolt file\n"), 512)
	if err := os.WriteFile(path, garbage, 0o600); err != nil {
		t.Fatal(err)
	}
	cfgPath := filepath.Join(dir, "events.yml")
	cfg := "cluster:\n  a: tcp://127.0.0.1:9\nevents:\n  - type: die\n    command: 'true'\n"
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "run", "-c", cfgPath, "--state-dir", dir, "--listen", "127.0.0.1:0")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatalf("daemon exited 0 on a corrupt state file; stderr:\n%s", stderr.String())
		}
	case <-time.After(30 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("daemon still running on a corrupt state file; stderr:\n%s", stderr.String())
	}
	msg := stderr.String()
	for _, want := range []string{"state file " + path + " is corrupt or unreadable", "mv " + path + " " + path + ".bad"} {
		if !strings.Contains(msg, want) {
			t.Errorf("stderr does not say %q:\n%s", want, msg)
		}
	}
	if got, _ := os.ReadFile(path); !bytes.Equal(got, garbage) {
		t.Error("the daemon changed the corrupt state file")
	}
}
