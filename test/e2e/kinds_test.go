package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

// TestKindsImageNetworkVolumeDaemonEventsReachTheirRules drives each kind of
// event other than container on a real engine and checks that the rule for
// that kind runs with the actor in its environment and stdin, and that a
// container rule does not.
func TestKindsImageNetworkVolumeDaemonEventsReachTheirRules(t *testing.T) {
	engines := testenv.Engines(t)
	img := testenv.Image(t)
	a := engines["a"]
	cfg := clusterYAML(engines) + fmt.Sprintf(`
events:
  - name: images
    object: image
    type: tag, untag, delete
    from_engine: a
    command: '%[1]s'
  - name: networks
    object: network
    type: [create, connect, disconnect, destroy]
    from_engine: a
    command: '%[1]s'
  - name: web-networks
    object: network
    type: connect
    from_engine: a
    from_container: kweb-*
    command: '%[1]s'
  - name: volumes
    object: volume
    type: create, destroy
    from_engine: a
    command: '%[1]s'
  - name: reloads
    object: daemon
    type: reload
    from_engine: a
    command: '%[1]s'
  - name: containers
    type: "*"
    from_engine: a
    command: '%[1]s'
`, recordCmd)
	d := startDaemon(t, cfg, len(engines))

	t.Run("image tag, untag, delete", func(t *testing.T) {
		ref := unique("kinds-img") + ":v1"
		testenv.Docker(t, a, "tag", img, ref)
		tag := d.waitRun("images", map[string]string{"EVENT_ACTION": "tag", "EVENT_ACTOR_NAME": ref}, 30*time.Second)
		if tag.Env["EVENT_TYPE"] != "image" || tag.Env["EVENT_OBJECT"] != "image" || !strings.HasPrefix(tag.Env["EVENT_ACTOR_ID"], "sha256:") {
			t.Errorf("tag env: EVENT_TYPE=%q EVENT_OBJECT=%q EVENT_ACTOR_ID=%q", tag.Env["EVENT_TYPE"], tag.Env["EVENT_OBJECT"], tag.Env["EVENT_ACTOR_ID"])
		}
		ev, _ := tag.Stdin["event"].(map[string]any)
		if ev["type"] != "image" || tag.Stdin["container"] != nil {
			t.Errorf("stdin = %v, want event.type image and no container", tag.Stdin)
		}
		testenv.Docker(t, a, "rmi", ref)
		d.waitRun("images", map[string]string{"EVENT_ACTION": "untag", "EVENT_ACTOR_ID": tag.Env["EVENT_ACTOR_ID"]}, 30*time.Second)
		// An image of its own (a commit), removed with its only reference: delete.
		box := unique("kinds-box")
		testenv.RunContainer(t, a, box, img, "sleep", "600")
		own := unique("kinds-own") + ":v1"
		imgID := strings.TrimSpace(testenv.Docker(t, a, "commit", box, own))
		testenv.Docker(t, a, "rm", "-f", box)
		testenv.Docker(t, a, "rmi", own)
		del := d.waitRun("images", map[string]string{"EVENT_ACTION": "delete", "EVENT_ACTOR_ID": imgID}, 30*time.Second)
		if del.Env["EVENT_OBJECT"] != "image" {
			t.Errorf("delete EVENT_OBJECT = %q", del.Env["EVENT_OBJECT"])
		}
	})

	t.Run("network create, connect, disconnect, destroy", func(t *testing.T) {
		net := unique("kinds-net")
		testenv.Docker(t, a, "network", "create", "--internal", net)
		create := d.waitRun("networks", map[string]string{"EVENT_ACTION": "create", "EVENT_ACTOR_NAME": net}, 30*time.Second)
		name := unique("kweb")
		// The engines run with --bridge=none: a container of RunContainer has
		// network none, which cannot join another. This one starts on the
		// internal bridge network: its start connects it.
		id := strings.TrimSpace(testenv.Docker(t, a, "run", "-d", "--network", net, "--name", name, img, "sleep", "600"))
		t.Cleanup(func() { testenv.Docker(t, a, "rm", "-f", id) })
		conn := d.waitRun("networks", map[string]string{"EVENT_TYPE": "network", "EVENT_ACTION": "connect", "EVENT_ACTOR_NAME": net}, 30*time.Second)
		if conn.Env["CONTAINER_ID"] != id || conn.Env["FROM_CONTAINER"] != name || conn.Env["EVENT_ACTOR_ID"] != create.Env["EVENT_ACTOR_ID"] {
			t.Errorf("connect env: CONTAINER_ID=%q FROM_CONTAINER=%q EVENT_ACTOR_ID=%q, want %s %s %s",
				conn.Env["CONTAINER_ID"], conn.Env["FROM_CONTAINER"], conn.Env["EVENT_ACTOR_ID"], id, name, create.Env["EVENT_ACTOR_ID"])
		}
		d.waitRun("web-networks", map[string]string{"EVENT_ACTION": "connect", "CONTAINER_ID": id}, 30*time.Second)
		testenv.Docker(t, a, "network", "disconnect", net, name)
		d.waitRun("networks", map[string]string{"EVENT_ACTION": "disconnect", "CONTAINER_ID": id}, 30*time.Second)
		testenv.Docker(t, a, "network", "rm", net)
		d.waitRun("networks", map[string]string{"EVENT_ACTION": "destroy", "EVENT_ACTOR_NAME": net}, 30*time.Second)
		testenv.Docker(t, a, "rm", "-f", name)
		d.waitRun("containers", map[string]string{"EVENT_TYPE": "container", "EVENT_ACTION": "destroy", "FROM_CONTAINER": name}, 30*time.Second)
		if n := d.countRuns("containers", map[string]string{"EVENT_OBJECT": "network"}); n != 0 {
			t.Errorf("the container rule ran %d times for network events", n)
		}
	})

	t.Run("volume create, destroy", func(t *testing.T) {
		vol := unique("kinds-vol")
		testenv.Docker(t, a, "volume", "create", vol)
		c := d.waitRun("volumes", map[string]string{"EVENT_TYPE": "volume", "EVENT_ACTION": "create", "EVENT_ACTOR_ID": vol}, 30*time.Second)
		if c.Env["EVENT_ACTOR_NAME"] != vol || c.Env["EVENT_OBJECT"] != "volume" {
			t.Errorf("volume env: EVENT_ACTOR_NAME=%q EVENT_OBJECT=%q", c.Env["EVENT_ACTOR_NAME"], c.Env["EVENT_OBJECT"])
		}
		testenv.Docker(t, a, "volume", "rm", vol)
		d.waitRun("volumes", map[string]string{"EVENT_ACTION": "destroy", "EVENT_ACTOR_ID": vol}, 30*time.Second)
	})

	t.Run("daemon reload on SIGHUP", func(t *testing.T) {
		pid := enginePid(t, "a")
		if err := syscall.Kill(pid, syscall.SIGHUP); err != nil {
			t.Fatalf("SIGHUP to dockerd %d: %v", pid, err)
		}
		r := d.waitRun("reloads", map[string]string{"EVENT_TYPE": "daemon", "EVENT_ACTION": "reload", "EVENT_OBJECT": "daemon"}, 30*time.Second)
		if r.Env["EVENT_ACTOR_ID"] == "" {
			t.Errorf("reload has no EVENT_ACTOR_ID")
		}
	})
}

// enginePid returns the pid of the test engine's dockerd, from the pidfile
// hack/engines.sh gives it ($EVENTSD_ENGINES_DIR/NAME/pid).
func enginePid(t *testing.T, name string) int {
	t.Helper()
	dir := os.Getenv("EVENTSD_ENGINES_DIR")
	if dir == "" {
		dir = "/tmp/eventsd-engines"
	}
	b, err := os.ReadFile(filepath.Join(dir, name, "pid"))
	if err != nil {
		t.Skipf("engine %s has no pidfile: %v", name, err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 1 {
		t.Fatalf("pidfile of engine %s: %q", name, b)
	}
	return pid
}
