package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

func TestEventsReachTheRightHandlersWithTheirEnvironment(t *testing.T) {
	engines := testenv.Engines(t)
	img := testenv.Image(t)
	cfg := clusterYAML(engines) + fmt.Sprintf(`
events:
  - name: lifecycle
    type: [start, kill, die, destroy]
    from_engine: a
    command: '%[1]s'
  - name: die-two
    type: die
    from_engine: a
    command: '%[1]s'
  - name: on-b
    type: start
    from_engine: b
    command: '%[1]s'
`, recordCmd)
	d := startDaemon(t, cfg, len(engines))
	name := unique("web")
	id := testenv.RunContainer(t, engines["a"], name, "--label", "lb=web", img, "sleep", "600")

	start := d.waitRun("lifecycle", map[string]string{"EVENT_ACTION": "start", "FROM_CONTAINER": name}, 30*time.Second)
	want := map[string]string{
		"FROM_ENGINE":     "a",
		"FROM_ENGINE_URL": engines["a"],
		"ENGINE_A":        engines["a"],
		"ENGINE_B":        engines["b"],
		"CONTAINER_ID":    id,
		"CONTAINER_IMAGE": img,
		"EVENT_TYPE":      "container",
		"EVENT_OBJECT":    "container",
		"EVENT_ACTION":    "start",
		"EVENT_ATTEMPT":   "1",
		"EVENT_SYNTHETIC": "0",
		"EVENTSD_RULE":    "lifecycle",
	}
	for k, v := range want {
		if start.Env[k] != v {
			t.Errorf("%s = %q, want %q", k, start.Env[k], v)
		}
	}
	if _, err := time.Parse(time.RFC3339Nano, start.Env["EVENT_TIME"]); err != nil {
		t.Errorf("EVENT_TIME %q: %v", start.Env["EVENT_TIME"], err)
	}
	if start.Env["EVENT_ID"] == "" {
		t.Error("EVENT_ID is empty")
	}
	ct, _ := start.Stdin["container"].(map[string]any)
	labels, _ := ct["labels"].(map[string]any)
	if labels["lb"] != "web" {
		t.Errorf("stdin container = %v, want labels.lb=web", start.Stdin["container"])
	}

	testenv.Docker(t, engines["a"], "kill", name)
	die := d.waitRun("lifecycle", map[string]string{"EVENT_ACTION": "die", "FROM_CONTAINER": name}, 30*time.Second)
	if die.Env["CONTAINER_EXIT_CODE"] != "137" {
		t.Errorf("CONTAINER_EXIT_CODE = %q, want 137", die.Env["CONTAINER_EXIT_CODE"])
	}
	d.waitRun("lifecycle", map[string]string{"EVENT_ACTION": "kill", "FROM_CONTAINER": name}, 10*time.Second)
	// Several rules for one type all run, each on its own.
	d.waitRun("die-two", map[string]string{"EVENT_ACTION": "die", "FROM_CONTAINER": name, "EVENT_ID": die.Env["EVENT_ID"]}, 10*time.Second)
	testenv.Docker(t, engines["a"], "rm", name)
	d.waitRun("lifecycle", map[string]string{"EVENT_ACTION": "destroy", "FROM_CONTAINER": name}, 30*time.Second)

	// The engine filter keeps b's events to b's rule.
	nb := unique("onb")
	testenv.RunContainer(t, engines["b"], nb, img, "sleep", "600")
	d.waitRun("on-b", map[string]string{"FROM_CONTAINER": nb, "FROM_ENGINE": "b"}, 30*time.Second)
	if n := d.countRuns("lifecycle", map[string]string{"FROM_CONTAINER": nb}); n != 0 {
		t.Errorf("rule for engine a ran %d times for a container on b", n)
	}
}

func TestEveryFilter(t *testing.T) {
	engines := testenv.Engines(t)
	img := testenv.Image(t)
	tag := unique("filt")
	rule := func(name, filter string) string {
		return fmt.Sprintf("  - name: %s\n    type: die\n%s    command: '%s'\n", name, filter, recordCmd)
	}
	cfg := clusterYAML(engines) + "events:\n" +
		rule("engine-glob", "    from_engine: \"b*\"\n    labels: {test: "+tag+"}\n") +
		rule("container-glob", "    from_container: \"keep-*\"\n    labels: {test: "+tag+"}\n") +
		rule("image-glob", "    image: \"*busybox*\"\n    labels: {test: "+tag+"}\n") +
		rule("image-contains", "    image_contains: \"nomatch-image\"\n    labels: {test: "+tag+"}\n") +
		rule("label-key", "    labels: {test: "+tag+", tier: \"\"}\n") +
		rule("label-value", "    labels: {test: "+tag+", tier: db}\n") +
		rule("exit-3", "    exit_code: [3]\n    labels: {test: "+tag+"}\n")
	d := startDaemon(t, cfg, len(engines))

	run := func(engine, name string, code int, labels ...string) {
		args := []string{"--label", "test=" + tag}
		for _, l := range labels {
			args = append(args, "--label", l)
		}
		args = append(args, img, "sh", "-c", fmt.Sprintf("exit %d", code))
		testenv.RunContainer(t, engines[engine], name, args...)
	}
	keep := unique("keep")
	other := unique("other")
	run("a", keep, 3, "tier=web")
	run("b", other, 0, "tier=db")
	d.waitRun("image-glob", map[string]string{"FROM_CONTAINER": keep}, 30*time.Second)
	d.waitRun("image-glob", map[string]string{"FROM_CONTAINER": other}, 30*time.Second)
	time.Sleep(time.Second) // let any wrong run land

	tests := []struct {
		rule        string
		keep, other int
	}{
		{"engine-glob", 0, 1},
		{"container-glob", 1, 0},
		{"image-glob", 1, 1},
		{"image-contains", 0, 0},
		{"label-key", 1, 1},
		{"label-value", 0, 1},
		{"exit-3", 1, 0},
	}
	for _, tt := range tests {
		if n := d.countRuns(tt.rule, map[string]string{"FROM_CONTAINER": keep}); n != tt.keep {
			t.Errorf("rule %s ran %d times for %s, want %d", tt.rule, n, keep, tt.keep)
		}
		if n := d.countRuns(tt.rule, map[string]string{"FROM_CONTAINER": other}); n != tt.other {
			t.Errorf("rule %s ran %d times for %s, want %d", tt.rule, n, other, tt.other)
		}
	}
}
