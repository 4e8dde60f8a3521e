package config

import (
	"reflect"
	"testing"
	"time"
)

// issueMonitors is the monitors: of issue 12, with targets for web (the
// issue's sketch leaves them out, which the loader refuses), under cluster2:
// monitors: is on line 4, its first monitor on line 5.
const issueMonitors = `cluster:
  foo: tcp://127.0.0.1:2375
  bar: unix:///var/run/docker.sock
monitors:
  - name: mysql
    tcp: {port: 3306}                  # or {address: "10.0.0.5:3306"}
    targets: {from_container: "db-*", labels: {role: master}}   # every running container that matches
    interval: 2s
    timeout: 1s
    failures: 3                        # consecutive failures before down
    successes: 1                       # consecutive successes before up
    start_period: 10s                  # failures do not count right after a container starts
  - name: web
    http: {url: "http://{{.Address}}:8080/health", expect_status: [200], body_contains: ok}
    targets: {from_container: "web-*"}
  - name: replication
    exec: {command: ./check-replication.sh}   # the plugin contract below
    targets: {from_container: "db-*"}
`

func TestParseMonitorsOfTheIssue(t *testing.T) {
	cfg := mustParse(t, issueMonitors+`events:
  - type: [tcp_timeout, tcp_refused]
    from_monitor: mysql
    command: ./promote
  - type: monitor_down
    from_monitor: "*"
    from_container: db-*
    log: a db stopped serving
state:
  - name: masters-serving
    from_container: db-*
    status: running
    monitors: {mysql: [up, Starting]}
    trigger: empty
    command: ./promote
`)
	want := []Monitor{{
		Name: "mysql", Kind: MonitorTCP, TCP: &TCPCheck{Port: 3306},
		Targets:  MonitorTargets{Selector: Selector{FromContainer: "db-*", Labels: map[string]string{"role": "master"}}, Containers: true},
		Interval: 2 * time.Second, Timeout: time.Second, Failures: 3, Successes: 1, StartPeriod: 10 * time.Second,
		Dir: ".", Pos: Pos{Line: 5, Col: 5},
	}, {
		Name: "web", Kind: MonitorHTTP,
		HTTP:     &HTTPCheck{URL: "http://{{.Address}}:8080/health", Method: "GET", ExpectStatus: []int{200}, BodyContains: "ok"},
		Targets:  MonitorTargets{Selector: Selector{FromContainer: "web-*"}, Containers: true},
		Interval: DefaultMonitorInterval, Timeout: DefaultMonitorTimeout, Failures: DefaultMonitorFailures, Successes: DefaultMonitorSuccesses,
		Dir: ".", Pos: Pos{Line: 13, Col: 5},
	}, {
		Name: "replication", Kind: MonitorExec, Exec: &ExecCheck{Command: "./check-replication.sh"},
		Targets:  MonitorTargets{Selector: Selector{FromContainer: "db-*"}, Containers: true},
		Interval: DefaultMonitorInterval, Timeout: DefaultMonitorTimeout, Failures: DefaultMonitorFailures, Successes: DefaultMonitorSuccesses,
		Dir: ".", Pos: Pos{Line: 16, Col: 5},
	}}
	if !reflect.DeepEqual(cfg.Monitors, want) {
		t.Errorf("monitors:\ngot  %+v\nwant %+v", cfg.Monitors, want)
	}
	if got := cfg.Rules[0]; got.FromMonitor != "mysql" || !reflect.DeepEqual(got.Types, []string{"tcp_timeout", "tcp_refused"}) {
		t.Errorf("rule 0: from_monitor %q, types %v", got.FromMonitor, got.Types)
	}
	if got := cfg.StateRules[0].Monitors; !reflect.DeepEqual(got, map[string][]string{"mysql": {"up", "starting"}}) {
		t.Errorf("state monitors: %v", got)
	}
}

func TestParseMonitorTargetsAndDefaults(t *testing.T) {
	tests := []struct {
		name string
		src  string
		want Monitor
	}{{
		name: "tcp address is its own target, timeout capped by a short interval",
		src:  "  - name: db\n    tcp: {address: \"10.0.0.5:3306\"}\n    interval: 500ms\n",
		want: Monitor{Name: "db", Kind: MonitorTCP, TCP: &TCPCheck{Address: "10.0.0.5:3306"},
			Interval: 500 * time.Millisecond, Timeout: 500 * time.Millisecond, Failures: 3, Successes: 1},
	}, {
		name: "fixed addresses as a list",
		src:  "  - name: db\n    tcp: {port: 5432}\n    targets: [10.0.0.5, \"db.local:6432\"]\n",
		want: Monitor{Name: "db", Kind: MonitorTCP, TCP: &TCPCheck{Port: 5432}, Targets: MonitorTargets{Addresses: []string{"10.0.0.5", "db.local:6432"}},
			Interval: DefaultMonitorInterval, Timeout: DefaultMonitorTimeout, Failures: 3, Successes: 1},
	}, {
		name: "exec without targets, http with fixed URL",
		src:  "  - name: x\n    exec: {command: true}\n  - name: y\n    http: {url: \"https://example.com/\", headers: {Host: a}, method: head}\n",
		want: Monitor{Name: "x", Kind: MonitorExec, Exec: &ExecCheck{Command: "true"},
			Interval: DefaultMonitorInterval, Timeout: DefaultMonitorTimeout, Failures: 3, Successes: 1},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, "cluster:\n  foo: tcp://127.0.0.1:2375\nmonitors:\n"+tt.src)
			got := cfg.Monitors[0]
			got.Pos, got.Dir = Pos{}, ""
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got  %+v\nwant %+v", got, tt.want)
			}
		})
	}
}

func TestParseMonitorErrors(t *testing.T) {
	const head = "cluster:\n  foo: tcp://127.0.0.1:2375\nmonitors:\n"
	const events = head + "  - name: m\n    tcp: {port: 1}\n    targets: {from_container: x}\nevents:\n"
	tests := []oneError{
		{name: "no kind", src: head + "  - name: m\n    targets: [a]\n", line: 4, col: 5, field: "monitors[0]", msg: "has no check"},
		{name: "two kinds", src: head + "  - name: m\n    tcp: {address: \"a:1\"}\n    exec: {command: x}\n", line: 6, col: 5, field: "monitors[0].exec", msg: "one kind"},
		{name: "port out of range", src: head + "  - name: m\n    tcp: {port: 70000}\n    targets: [a]\n", line: 5, col: 17, field: "monitors[0].tcp.port", msg: "out of range"},
		{name: "bad address", src: head + "  - name: m\n    tcp: {address: db}\n", line: 5, col: 20, field: "monitors[0].tcp.address", msg: "want host:port"},
		{name: "port needs targets", src: head + "  - name: m\n    tcp: {port: 1}\n", line: 4, col: 5, field: "monitors[0].targets", msg: "is required"},
		{name: "address takes no targets", src: head + "  - name: m\n    tcp: {address: \"a:1\"}\n    targets: [b]\n", line: 6, col: 5, field: "monitors[0].targets", msg: "one target"},
		{name: "url template broken", src: head + "  - name: m\n    http: {url: \"http://{{.Adress}}/\"}\n    targets: [a]\n", line: 5, col: 17, field: "monitors[0].http.url", msg: "invalid url template"},
		{name: "url not http", src: head + "  - name: m\n    http: {url: \"ftp://x/\"}\n", line: 5, col: 17, field: "monitors[0].http.url", msg: "want http://"},
		{name: "status out of range", src: head + "  - name: m\n    http: {url: \"http://x/\", expect_status: [200, 99]}\n", line: 5, col: 51, field: "monitors[0].http.expect_status[1]", msg: "out of range"},
		{name: "timeout over interval", src: head + "  - name: m\n    exec: {command: x}\n    interval: 1s\n    timeout: 2s\n", line: 7, col: 14, field: "monitors[0].timeout", msg: "must not be more than interval"},
		{name: "failures zero", src: head + "  - name: m\n    exec: {command: x}\n    failures: 0\n", line: 6, col: 15, field: "monitors[0].failures", msg: "at least 1"},
		{name: "unknown field", src: head + "  - name: m\n    exec: {command: x}\n    intervall: 1s\n", line: 6, col: 5, field: "monitors[0].intervall", msg: "interval"},
		{name: "duplicate name", src: head + "  - name: m\n    exec: {command: x}\n  - name: m\n    exec: {command: y}\n", line: 6, col: 5, field: "monitors[1].name", msg: "duplicate monitor name"},
		{name: "unknown engine in targets", src: head + "  - name: m\n    exec: {command: x}\n    targets: {from_engine: fo}\n", line: 6, col: 28, field: "monitors[0].targets.from_engine", msg: "unknown engine"},
		{name: "from_monitor unknown", src: events + "  - type: monitor_down\n    from_monitor: n\n    log: x\n", line: 9, col: 19, field: "events[0].from_monitor", msg: "unknown monitor \"n\""},
		{name: "from_monitor without monitor type", src: events + "  - type: die\n    from_monitor: m\n    log: x\n", line: 9, col: 5, field: "events[0].from_monitor", msg: "never matches"},
		{name: "kind type no monitor makes", src: events + "  - type: http_error\n    log: x\n", line: 8, col: 5, field: "events[0].type", msg: "no http monitor"},
		{name: "state unknown monitor", src: events[:len(events)-len("events:\n")] + "state:\n  - monitors: {n: down}\n    log: x\n", line: 8, col: 16, field: "state[0].monitors.n", msg: "unknown monitor"},
		{name: "state bad result", src: events[:len(events)-len("events:\n")] + "state:\n  - monitors: {m: dead}\n    log: x\n", line: 8, col: 19, field: "state[0].monitors.m", msg: "unknown monitor result"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkOneError(t, tt) })
	}
}

func TestMonitorTypesNeedMonitors(t *testing.T) {
	checkOneError(t, oneError{src: cluster2 + "  - type: tcp_ok\n    log: x\n", line: 5, col: 5, field: "events[0].type", msg: "no monitor is configured"})
}
