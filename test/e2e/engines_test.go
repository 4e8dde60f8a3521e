package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/faultproxy"
	"github.com/samalba/docker-eventsd/internal/testenv"
)

func TestKilledEngineGivesEngineDownAndRestartedEngineGivesEngineUp(t *testing.T) {
	engines := testenv.Engines(t)
	cfg := clusterYAML(engines) + fmt.Sprintf(`
events:
  - name: outage
    type: tcp_disconnect, engine_up
    command: '%[1]s'
  - name: b-lifecycle
    type: [start, die]
    from_engine: b
    command: '%[1]s'
`, recordCmd)
	d := startDaemon(t, cfg, len(engines))
	name := unique("onkilled")
	testenv.RunContainer(t, engines["b"], name, testenv.Image(t), "sleep", "600")
	d.waitRun("b-lifecycle", map[string]string{"EVENT_ACTION": "start", "FROM_CONTAINER": name}, 30*time.Second)

	testenv.KillEngine(t, "b")
	down := d.waitRun("outage", map[string]string{"EVENT_ACTION": "engine_down", "FROM_ENGINE": "b"}, 15*time.Second)
	if down.Env["EVENT_SYNTHETIC"] != "1" || down.Env["FROM_CONTAINER"] != "" || down.Env["EVENT_TYPE"] != "engine" {
		t.Errorf("engine_down env: synthetic=%q container=%q type=%q", down.Env["EVENT_SYNTHETIC"], down.Env["FROM_CONTAINER"], down.Env["EVENT_TYPE"])
	}
	// Engine a is not affected.
	if n := d.countRuns("outage", map[string]string{"FROM_ENGINE": "a"}); n != 0 {
		t.Errorf("engine a had %d outage runs", n)
	}
	testenv.StartEngine(t, "b")
	d.waitRun("outage", map[string]string{"EVENT_ACTION": "engine_up", "FROM_ENGINE": "b"}, 60*time.Second)
	// The restarted engine stopped the container (no live-restore): its die reaches
	// the handler, replayed from the new engine's ring or synthesized by the relist.
	d.waitRun("b-lifecycle", map[string]string{"EVENT_ACTION": "die", "FROM_CONTAINER": name}, 30*time.Second)
	if n := d.countRuns("outage", map[string]string{"EVENT_ACTION": "engine_down", "FROM_ENGINE": "b"}); n != 1 {
		t.Errorf("%d engine_down runs for one outage, want 1", n)
	}
}

func TestContainerKilledWhileTheEngineWasUnseenGivesASynthesizedDie(t *testing.T) {
	engines := testenv.Engines(t)
	img := testenv.Image(t)
	p := faultproxy.New(t, strings.TrimPrefix(engines["a"], "tcp://"))
	cfg := fmt.Sprintf(`
cluster:
  seen: %s
events:
  - name: watch
    type: [die, engine_down, engine_up]
    command: '%s'
`, p.URL(), recordCmd)
	d := startDaemon(t, cfg, 1)
	name := unique("blind")
	testenv.RunContainer(t, engines["a"], name, img, "sleep", "600")
	d.waitLog(`"type":"start"`, 1, 30*time.Second)

	p.Set(faultproxy.Refuse)
	d.waitRun("watch", map[string]string{"EVENT_ACTION": "engine_down"}, 15*time.Second)
	testenv.Docker(t, engines["a"], "kill", name)
	// Push the die out of the engine's 256-event ring.
	for i := 0; i < 140; i++ {
		v := fmt.Sprintf("flush-%d-%d", time.Now().UnixNano()%1e6, i)
		testenv.Docker(t, engines["a"], "volume", "create", v)
		testenv.Docker(t, engines["a"], "volume", "rm", v)
	}
	p.Set(faultproxy.Pass)
	die := d.waitRun("watch", map[string]string{"EVENT_ACTION": "die", "FROM_CONTAINER": name}, 30*time.Second)
	if die.Env["EVENT_SYNTHETIC"] != "1" || die.Env["CONTAINER_EXIT_CODE"] != "137" {
		t.Errorf("die: synthetic=%q exit=%q, want 1 and 137", die.Env["EVENT_SYNTHETIC"], die.Env["CONTAINER_EXIT_CODE"])
	}
	d.waitRun("watch", map[string]string{"EVENT_ACTION": "engine_up"}, 15*time.Second)
}
