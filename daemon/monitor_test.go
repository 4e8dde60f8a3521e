package daemon

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/informer/informertest"
)

const monitorConfig = `
cluster:
  a: %s
monitors:
  - name: mysql
    tcp: {port: %d}
    targets: {from_container: "db-*"}
    interval: 20ms
    timeout: 15ms
    failures: 3
events:
  - name: port-lost
    type: [tcp_refused, tcp_timeout]
    from_monitor: mysql
    command: echo "$MONITOR_NAME $MONITOR_TARGET $FROM_ENGINE $FROM_CONTAINER $MONITOR_FAILURES $MONITOR_ERROR" >> "$OUT/lost"
state:
  - name: not-serving
    from_engine: a
    monitors: {mysql: down}
    trigger: nonempty
    command: cat > "$OUT/down.json"
`

func TestDaemonRunsMonitorsOnContainersOfTheCacheAndHandsTheirEventsToRules(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := ln.Addr().(*net.TCPAddr).Port
	out := t.TempDir()
	cfg, err := config.Parse("events.yml", fmt.Appendf(nil, monitorConfig, url("a"), port))
	if err != nil {
		t.Fatal(err)
	}
	fake := informertest.New()
	// The fake engine's inspect tells no network: the label gives the address.
	fake.Create("c1", "db-1", "mariadb:11", map[string]string{"eventsd.address": "127.0.0.1"})
	fake.Start("c1")
	d, err := New(Options{
		Config: cfg, Workers: 2, Logger: testr.New(t), ShutdownTimeout: 5 * time.Second,
		Environ:   []string{"PATH=" + os.Getenv("PATH"), "OUT=" + out},
		NewClient: func(config.Engine) (informer.Client, error) { return fake, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
		if n := d.Monitors().Running(); n != 0 {
			t.Errorf("%d monitor targets still running after Run", n)
		}
	}()

	// db-1 ran before the daemon started: the first list (no event) gives
	// its target.
	waitUntil(t, "db-1 up", func() bool { r, _ := d.Monitors().Results().Result("mysql", "a", "c1"); return r == config.MonitorUp })
	ln.Close()
	waitUntil(t, "the rule's handler", func() bool {
		b, _ := os.ReadFile(filepath.Join(out, "lost"))
		return strings.TrimSpace(string(b)) == "mysql db-1 a db-1 3 connection refused"
	})
	waitUntil(t, "the state rule's run", func() bool {
		b, _ := os.ReadFile(filepath.Join(out, "down.json"))
		return strings.Contains(string(b), `"monitors":{"mysql":"down"}`)
	})

	// The container dies: its target stops.
	fake.Die("c1", 137)
	waitUntil(t, "the target stopped", func() bool { return d.Monitors().Running() == 0 })
}

// waitUntil polls cond, failing the test after waitTimeout.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
