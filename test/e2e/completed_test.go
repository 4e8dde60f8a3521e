package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

// TestDurableCompletedDeliveryDoesNotRunAgainAfterASIGKILL kills the daemon
// about a second after a handler completed, before the engine's checkpoint
// covered the event (the interval is stretched to 10 s), and restarts it with
// the same --state-dir: the engine replays the event, and the delivery, which
// the state file records as completed, does not run again.
func TestDurableCompletedDeliveryDoesNotRunAgainAfterASIGKILL(t *testing.T) {
	engines := testenv.Engines(t)
	img := testenv.Image(t)
	prefix := unique("completed")
	// Each run appends its EVENT_ID: recordCmd's files would be overwritten
	// by a second run of the same attempt.
	cfg := fmt.Sprintf(`
cluster:
  a: %s
events:
  - name: started
    type: start
    from_container: '%s-*'
    command: '%s; echo "$EVENT_ID" >> "$OUT/ledger"'
`, engines["a"], prefix, recordCmd)
	out := t.TempDir()
	state := filepath.Join(t.TempDir(), "state")
	path := filepath.Join(out, "events.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	const interval = 10 * time.Second
	flags := []string{"--state-dir", state, "--checkpoint-interval", interval.String()}
	d := launchDaemon(t, path, out, "", nil, 1, flags...)
	d.waitLog(`"msg":"Started workers"`, 1, 30*time.Second)
	// Past the first checkpoint (the engine's replay point), before the next.
	time.Sleep(interval + 1500*time.Millisecond)

	ctr := prefix + "-web"
	testenv.RunContainer(t, engines["a"], ctr, img, "sleep", "600")
	first := d.waitRun("started", map[string]string{"FROM_CONTAINER": ctr}, 30*time.Second)
	d.waitLog(`"msg":"Handler succeeded"`, 1, 30*time.Second)
	time.Sleep(time.Second)
	d.stop(syscall.SIGKILL)

	d2 := launchDaemon(t, path, out, "", nil, 1, flags...)
	skip := `"msg":"Ignoring a replayed event: its delivery completed in an earlier run"`
	d2.waitLog(skip, 1, 30*time.Second)
	if logs := d2.Logs(); !strings.Contains(logs, `"event":"`+first.Env["EVENT_ID"]+`"`) || !strings.Contains(logs, `"rule":"started"`) {
		t.Errorf("the restart did not log the skipped replay with rule and event %s", first.Env["EVENT_ID"])
	}
	// A new event still runs: the skip is for the completed delivery only.
	ctr2 := prefix + "-new"
	testenv.RunContainer(t, engines["a"], ctr2, img, "sleep", "600")
	d2.waitRun("started", map[string]string{"FROM_CONTAINER": ctr2}, 30*time.Second)
	d2.waitLog(`"msg":"Handler succeeded"`, 1, 30*time.Second)

	ledger, err := os.ReadFile(filepath.Join(out, "ledger"))
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(ledger), first.Env["EVENT_ID"]+"\n"); n != 1 {
		t.Errorf("EVENT_ID %s ran %d times, want once; ledger:\n%s", first.Env["EVENT_ID"], n, ledger)
	}
}
