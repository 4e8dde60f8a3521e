package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

// TestTransitionSynthesizedAgainAfterACrashHasTheSameEventID: a daemon with
// --state-dir that dies (SIGKILL) after it synthesized a transition, and before
// its checkpoint moved past it, synthesizes it again when it restarts. Handlers
// dedupe on EVENT_ID: it must be the same both times. Here the state file is
// copied once the first daemon is dead, and two daemons restart from the two
// copies: the same checkpoint, the same engine, the same die synthesized twice.
func TestTransitionSynthesizedAgainAfterACrashHasTheSameEventID(t *testing.T) {
	engines := testenv.Engines(t)
	url := engines["a"]
	img := testenv.Image(t)
	prefix := unique("again")
	cfg := fmt.Sprintf(`
cluster:
  a: %s
events:
  - name: watch
    type: [start, die]
    from_container: '%s-*'
    command: '%s'
`, url, prefix, recordCmd)
	dir := t.TempDir()
	path := filepath.Join(dir, "events.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	state := filepath.Join(dir, "state")
	d := launchDaemon(t, path, t.TempDir(), "", nil, 1, "--state-dir", state)
	master := prefix + "-master"
	testenv.RunContainer(t, url, master, img, "sleep", "600")
	d.waitRun("watch", map[string]string{"FROM_CONTAINER": master, "EVENT_ACTION": "start"}, 30*time.Second)
	time.Sleep(2500 * time.Millisecond) // the checkpoint (every second) has the master running
	d.stop(syscall.SIGKILL)

	// While no daemon runs the master dies, and its die leaves the engine's ring.
	testenv.Docker(t, url, "kill", master)
	for i := 0; i < 140; i++ {
		v := fmt.Sprintf("%s-flush-%d", prefix, i)
		testenv.Docker(t, url, "volume", "create", v)
		testenv.Docker(t, url, "volume", "rm", v)
	}
	copied := filepath.Join(dir, "state-copy")
	if err := os.CopyFS(copied, os.DirFS(state)); err != nil {
		t.Fatal(err)
	}

	var ids []string
	for _, s := range []string{state, copied} {
		d := launchDaemon(t, path, t.TempDir(), "", nil, 1, "--state-dir", s)
		die := d.waitRun("watch", map[string]string{"FROM_CONTAINER": master, "EVENT_ACTION": "die"}, 30*time.Second)
		if die.Env["EVENT_SYNTHETIC"] != "1" || die.Env["CONTAINER_EXIT_CODE"] != "137" {
			t.Errorf("die: synthetic=%q exit=%q, want 1 and 137", die.Env["EVENT_SYNTHETIC"], die.Env["CONTAINER_EXIT_CODE"])
		}
		ids = append(ids, die.Env["EVENT_ID"])
		d.stop(syscall.SIGKILL)
	}
	if ids[0] != ids[1] {
		t.Errorf("the same die synthesized from the same checkpoint has EVENT_IDs %s and %s, want one", ids[0], ids[1])
	}
}
