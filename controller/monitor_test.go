package controller

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/informer/informertest"
)

// monitorEvent is a monitor event of monitor mon on container db-1 of
// engine a (fixed: no container, no engine).
func monitorEvent(action, mon string, down, fixed bool) *informer.Event {
	ev := &informer.Event{ID: "m1", Type: informer.TypeMonitor, Action: action, ActorID: mon + "/c1", Time: time.Unix(1700000000, 0),
		Monitor: &informer.MonitorResult{Name: mon, Kind: "tcp", Target: "db-1", Address: "172.17.0.2:3306", Down: down, Error: "connection refused", Failures: 3}}
	if !fixed {
		ev.Engine = "a"
		ev.Container = &informer.Container{ID: "c1", Engine: "a", Name: "db-1", Image: "mariadb:11", State: "running", Labels: map[string]string{"role": "master"}}
	}
	return ev
}

func TestMatchMonitorEvents(t *testing.T) {
	down := monitorEvent(config.TypeTCPRefused, "mysql", true, false)
	up := monitorEvent(config.TypeTCPOK, "mysql", false, false)
	fixed := monitorEvent(config.TypeTCPTimeout, "gw", true, true)
	tests := []struct {
		name string
		rule config.Rule
		want []bool // down, up, fixed
	}{
		{"its own type", config.Rule{Types: []string{"tcp_refused"}}, []bool{true, false, false}},
		{"monitor_down matches any kind going down", config.Rule{Types: []string{"monitor_down"}}, []bool{true, false, true}},
		{"monitor_up", config.Rule{Types: []string{"monitor_up"}}, []bool{false, true, false}},
		{"from_monitor glob", config.Rule{Types: []string{"monitor_down", "monitor_up"}, FromMonitor: "my*"}, []bool{true, true, false}},
		{"a plain * is about containers", config.Rule{Types: []string{"*"}}, []bool{false, false, false}},
		{"* with from_monitor", config.Rule{Types: []string{"*"}, FromMonitor: "*"}, []bool{true, true, true}},
		{"container filters apply to the target", config.Rule{Types: []string{"monitor_down"}, Selector: config.Selector{FromContainer: "db-*", Labels: map[string]string{"role": "master"}}}, []bool{true, false, false}},
		{"from_engine never matches a fixed address", config.Rule{Types: []string{"monitor_down"}, Selector: config.Selector{FromEngine: "*"}}, []bool{true, false, false}},
		{"a container action does not match", config.Rule{Types: []string{"die", "start"}}, []bool{false, false, false}},
		{"exit_code never matches", config.Rule{Types: []string{"monitor_down"}, ExitCodes: []int{1}}, []bool{false, false, false}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := compileMatcher(&tt.rule)
			for i, ev := range []*informer.Event{down, up, fixed} {
				if got := m.match(ev); got != tt.want[i] {
					t.Errorf("event %d (%s of %s): match = %v, want %v", i, ev.Action, ev.Monitor.Name, got, tt.want[i])
				}
			}
		})
	}
	// And container events never match a monitor-only rule.
	m := compileMatcher(&config.Rule{Types: []string{"monitor_down"}, FromMonitor: "*"})
	if m.match(ctrEvent("die")) {
		t.Error("a die matched a monitor rule")
	}
}

func TestMonitorEventReachesTheHandlerWithItsVariablesAndJSON(t *testing.T) {
	cfg := localConfig(config.Rule{Name: "promote", Types: []string{"tcp_refused"}, FromMonitor: "mysql", Action: config.Action{Command: "x", Timeout: time.Second, Retry: config.Retry{MaxAttempts: 1, Backoff: time.Second, MaxBackoff: time.Second}}})
	cfg.Engines[0].Name = "a"
	h := newHarness(t, cfg, nil, 1)
	h.start()
	h.c.Handle(monitorEvent(config.TypeTCPRefused, "mysql", true, false))
	cmd := h.waitStarted(1)[0]
	for name, want := range map[string]string{
		"MONITOR_NAME": "mysql", "MONITOR_TARGET": "db-1", "MONITOR_ERROR": "connection refused", "MONITOR_FAILURES": "3",
		"MONITOR_ADDRESS": "172.17.0.2:3306", "FROM_ENGINE": "a", "FROM_CONTAINER": "db-1", "CONTAINER_ID": "c1",
		"EVENT_ACTION": "tcp_refused", "EVENT_OBJECT": "monitor",
	} {
		if got := env(t, cmd, name); got != want {
			t.Errorf("%s = %q, want %q", name, got, want)
		}
	}
	var doc struct {
		Event struct {
			Type    string                  `json:"type"`
			Monitor *informer.MonitorResult `json:"monitor"`
		} `json:"event"`
	}
	if err := json.Unmarshal(cmd.Stdin, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Event.Type != "monitor" || doc.Event.Monitor == nil || doc.Event.Monitor.Failures != 3 {
		t.Errorf("stdin event = %+v", doc.Event)
	}
}

// fakeResults is a MonitorResults set by hand.
type fakeResults struct {
	mu sync.Mutex
	m  map[[3]string]string
}

func (f *fakeResults) Result(mon, engine, id string) (string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	r, ok := f.m[[3]string{mon, engine, id}]
	return r, ok
}

func (f *fakeResults) set(mon, engine, id, r string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.m[[3]string{mon, engine, id}] = r
}

func TestStateRuleSelectsOnMonitorResults(t *testing.T) {
	sh := newStateHarness(t, stateConfig(config.StateRule{
		Selector: config.Selector{FromEngine: "a", FromContainer: "db-*"}, Status: []string{"running"},
		Monitors: map[string][]string{"mysql": {"down"}}, Action: config.Action{Command: "x"},
	}), nil)
	results := &fakeResults{m: map[[3]string]string{}}
	sh.c.state.monitors = results
	sh.runEngine("a")
	sh.startContainer("a", "db-1", nil)
	sh.startContainer("a", "db-2", nil) // never checked by mysql: never selected
	results.set("mysql", "a", "db-1", config.MonitorUp)
	sh.start()
	runs := sh.wantRuns(1, "at start")
	if got := names(decodeSet(t, runs[0])); len(got) != 0 {
		t.Errorf("set at start = %v, want empty", got)
	}

	results.set("mysql", "a", "db-1", config.MonitorDown)
	sh.c.MonitorChanged()
	sh.sync()
	runs = sh.wantRuns(2, "after mysql went down")
	var set []struct {
		Name     string            `json:"name"`
		Monitors map[string]string `json:"monitors"`
	}
	if err := json.Unmarshal(runs[1].Stdin, &set); err != nil {
		t.Fatal(err)
	}
	if len(set) != 1 || set[0].Name != "db-1" || set[0].Monitors["mysql"] != "down" {
		t.Errorf("set = %+v, want db-1 with mysql down", set)
	}
}

func TestStateRuleRequiresRunningAndServing(t *testing.T) {
	// The failover pattern: the set of masters running AND serving, trigger
	// empty: it fires when the master stopped OR its port is down.
	for _, tt := range []struct {
		name string
		lose func(sh *stateHarness, r *fakeResults)
	}{
		{"port down", func(sh *stateHarness, r *fakeResults) {
			r.set("mysql", "a", "db-1", config.MonitorDown)
			sh.c.MonitorChanged()
			sh.sync()
		}},
		{"container stopped", func(sh *stateHarness, r *fakeResults) {
			sh.do("a", 1, func(d *informertest.Engine) { d.Die("db-1", 137) })
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			sh := newStateHarness(t, stateConfig(config.StateRule{
				Selector: config.Selector{FromEngine: "a", FromContainer: "db-*"}, Status: []string{"running"}, Trigger: config.TriggerEmpty,
				Monitors: map[string][]string{"mysql": {"up", "starting"}}, Action: config.Action{Command: "promote"},
			}), nil)
			results := &fakeResults{m: map[[3]string]string{}}
			sh.c.state.monitors = results
			sh.runEngine("a")
			sh.startContainer("a", "db-1", nil)
			results.set("mysql", "a", "db-1", config.MonitorStarting)
			sh.start()
			sh.wantRuns(0, "a master serving")
			results.set("mysql", "a", "db-1", config.MonitorUp)
			sh.c.MonitorChanged()
			sh.sync()
			sh.wantRuns(0, "still serving")
			tt.lose(sh, results)
			if runs := sh.wantRuns(1, tt.name); runs[0].Script != "promote" {
				t.Errorf("ran %q", runs[0].Script)
			}
		})
	}
}
