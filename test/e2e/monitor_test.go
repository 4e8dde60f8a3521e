package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

// monitorPort is the port the busybox httpd of the monitor tests listens on,
// on the engine's host (--network host): one of the monitors' range.
const monitorPort = 24510

func TestMonitorsCheckABusyboxHttpdWithHostNetwork(t *testing.T) {
	engines := testenv.Engines(t)
	name := unique("mon-web")
	cfg := clusterYAML(engines) + fmt.Sprintf(`
monitors:
  - name: web
    http: {url: "http://{{.Address}}:%[1]d/health", expect_status: [200], body_contains: ok}
    targets: {from_engine: a, from_container: "%[2]s"}
    interval: 200ms
    timeout: 150ms
    failures: 2
  - name: port
    tcp: {port: %[1]d}
    targets: {from_engine: a, from_container: "%[2]s"}
    interval: 200ms
    timeout: 150ms
    failures: 2
events:
  - name: web
    type: [monitor_down, monitor_up]
    from_monitor: "*"
    command: '%[3]s'
state:
  - name: web-down
    from_engine: a
    monitors: {web: down}
    trigger: nonempty
    command: cat > "$OUT/web-down.json"
`, monitorPort, name, recordCmd)
	d := startDaemon(t, cfg, len(engines))

	// httpd in the background, so that killing it leaves the container
	// running: the monitors, not the container's events, must see it go.
	id := testenv.Docker(t, engines["a"], "run", "-d", "--network", "host", "--name", name, testenv.Image(t), "sh", "-c",
		fmt.Sprintf("mkdir -p /www && echo ok > /www/health && httpd -p %d -h /www && exec sleep 600", monitorPort))
	t.Cleanup(func() { testenv.Docker(t, engines["a"], "rm", "-f", id) })
	time.Sleep(time.Second) // the targets start and pass their thresholds: no event

	if n := len(d.runs("web")); n != 0 {
		t.Fatalf("%d runs before anything failed", n)
	}
	testenv.Docker(t, engines["a"], "exec", name, "rm", "/www/health")
	down := d.waitRun("web", map[string]string{"EVENT_ACTION": "http_error", "MONITOR_NAME": "web"}, 10*time.Second)
	for k, want := range map[string]string{
		"MONITOR_TARGET": name, "FROM_CONTAINER": name, "FROM_ENGINE": "a", "CONTAINER_ID": id,
		"MONITOR_ERROR": "status 404", "MONITOR_FAILURES": "2",
		"MONITOR_ADDRESS": fmt.Sprintf("http://127.0.0.1:%d/health", monitorPort),
	} {
		if down.Env[k] != want {
			t.Errorf("%s = %q, want %q", k, down.Env[k], want)
		}
	}
	waitFor(t, 10*time.Second, "the state rule's run", func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(d.Dir, "web-down.json"))
		return strings.Contains(string(b), `"name":"`+name+`"`) && strings.Contains(string(b), `"monitors":{"web":"down"}`), string(b)
	})
	testenv.Docker(t, engines["a"], "exec", name, "sh", "-c", "echo ok > /www/health")
	d.waitRun("web", map[string]string{"EVENT_ACTION": "http_ok", "MONITOR_NAME": "web"}, 10*time.Second)

	// The server stops while the container runs: the port is refused.
	testenv.Docker(t, engines["a"], "exec", name, "killall", "httpd")
	refused := d.waitRun("web", map[string]string{"EVENT_ACTION": "tcp_refused", "MONITOR_NAME": "port"}, 10*time.Second)
	if refused.Env["MONITOR_ERROR"] != "connection refused" || refused.Env["MONITOR_ADDRESS"] != fmt.Sprintf("127.0.0.1:%d", monitorPort) {
		t.Errorf("tcp_refused: error %q address %q", refused.Env["MONITOR_ERROR"], refused.Env["MONITOR_ADDRESS"])
	}
	waitFor(t, 10*time.Second, "a second http_error, the server gone", func() (bool, string) {
		n := d.countRuns("web", map[string]string{"EVENT_ACTION": "http_error"})
		return n == 2, fmt.Sprintf("%d http_error runs", n)
	})
	if n := d.countRuns("web", map[string]string{"EVENT_ACTION": "http_ok"}); n != 1 {
		t.Errorf("%d http_ok runs, want 1", n)
	}
}

func TestMonitorExecPluginWithTheDaemonBinary(t *testing.T) {
	engines := testenv.Engines(t)
	dir := t.TempDir()
	// The plugin beside the config, named relative to it.
	if err := os.WriteFile(filepath.Join(dir, "check.sh"), []byte("#!/bin/sh\necho \"lag of $MONITOR_TARGET: 42s\"\n[ ! -e \"$OUT/failing\" ]\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cfg := clusterYAML(engines) + fmt.Sprintf(`
monitors:
  - name: replication
    exec: {command: ./check.sh}
    targets: ["10.0.0.5:3306"]
    interval: 100ms
    failures: 2
events:
  - name: repl
    type: [exec_failed, exec_ok]
    command: '%s'
`, recordCmd)
	path := filepath.Join(dir, "events.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d := launchDaemon(t, path, t.TempDir(), "", nil, len(engines))
	time.Sleep(500 * time.Millisecond)
	os.WriteFile(filepath.Join(d.Dir, "failing"), nil, 0o644)
	r := d.waitRun("repl", map[string]string{"EVENT_ACTION": "exec_failed"}, 10*time.Second)
	if r.Env["MONITOR_TARGET"] != "10.0.0.5:3306" || r.Env["MONITOR_ERROR"] != "exit status 1" || r.Env["FROM_ENGINE"] != "" {
		t.Errorf("exec_failed env: %v", r.Env)
	}
	mon, _ := r.Stdin["event"].(map[string]any)["monitor"].(map[string]any)
	if mon["output"] != "lag of 10.0.0.5:3306: 42s" {
		t.Errorf("event.monitor on stdin = %v", mon)
	}
	os.Remove(filepath.Join(d.Dir, "failing"))
	d.waitRun("repl", map[string]string{"EVENT_ACTION": "exec_ok"}, 10*time.Second)
}
