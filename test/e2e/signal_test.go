package e2e

import (
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

func TestSIGHUPDoesNotStopTheDaemon(t *testing.T) {
	engines := testenv.Engines(t)
	cfg := clusterYAML(engines) + fmt.Sprintf(`
events:
  - name: started
    type: start
    from_engine: a
    command: '%s'
`, recordCmd)
	d := startDaemon(t, cfg, len(engines))
	for i := 1; i <= 2; i++ {
		if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		d.waitLog(`"msg":"Reload requested"`, i, 10*time.Second)
	}
	// Still running, and still handling events.
	name := unique("after-hup")
	testenv.RunContainer(t, engines["a"], name, testenv.Image(t), "true")
	d.waitRun("started", map[string]string{"FROM_CONTAINER": name}, 30*time.Second)
	d.stop(syscall.SIGTERM)
	if code := d.cmd.ProcessState.ExitCode(); code != 0 {
		t.Errorf("exit status %d after SIGHUP then SIGTERM, want 0", code)
	}
}
