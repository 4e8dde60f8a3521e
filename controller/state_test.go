package controller

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/informer/informertest"
	"github.com/samalba/docker-eventsd/reconcile"
)

// stateElem is an element of the set a state handler reads.
type stateElem struct {
	ID     string            `json:"id"`
	Engine string            `json:"engine"`
	Name   string            `json:"name"`
	State  string            `json:"state"`
	Health string            `json:"health"`
	Labels map[string]string `json:"labels"`
	Status string            `json:"status"`
}

// decodeSet decodes the stdin of a state run.
func decodeSet(t *testing.T, cmd reconcile.Command) []stateElem {
	t.Helper()
	var set []stateElem
	if err := json.Unmarshal(cmd.Stdin, &set); err != nil {
		t.Fatalf("stdin %q: %v", cmd.Stdin, err)
	}
	return set
}

// names returns "engine/name" of each element.
func names(set []stateElem) []string {
	out := []string{}
	for _, e := range set {
		out = append(out, e.Engine+"/"+e.Name+":"+e.Status)
	}
	return out
}

func TestStateRuleGetsTheSetOnStdinInAFileAndInItsEnvironment(t *testing.T) {
	var mu sync.Mutex
	files := map[string]string{} // path -> content during the run
	run := func(_ context.Context, cmd reconcile.Command) (reconcile.Result, error) {
		path, _ := envLookup(cmd, "EVENTSD_STATE_FILE")
		data, err := os.ReadFile(path)
		mu.Lock()
		defer mu.Unlock()
		files[path] = string(data)
		return reconcile.Result{}, err
	}
	sh := newStateHarness(t, stateConfig(config.StateRule{
		Name:     "dbs",
		Selector: config.Selector{FromContainer: "db-*"},
		Action:   config.Action{Command: "./x", Timeout: 7 * time.Second, Env: map[string]string{"PGUSER": "admin", "STATE_COUNT": "99"}},
	}), run)
	sh.runEngine("a")
	sh.runEngine("b")
	sh.startContainer("b", "db-2", map[string]string{"role": "replica"})
	sh.startContainer("a", "db-1", nil)
	sh.startContainer("a", "web", nil)
	sh.start()
	sh.sync()

	cmd := sh.wantRuns(1, "after start")[0]
	set := decodeSet(t, cmd)
	if got, want := names(set), []string{"a/db-1:running", "b/db-2:running"}; !slices.Equal(got, want) {
		t.Errorf("set = %v, want %v (sorted by engine, then name)", got, want)
	}
	if set[1].Labels["role"] != "replica" || set[0].Labels == nil || set[0].State != "running" || set[0].ID != "db-1" {
		t.Errorf("set = %+v, want the cached containers", set)
	}
	sum := sha256.Sum256(cmd.Stdin[:len(cmd.Stdin)-1])
	for name, want := range map[string]string{
		"EVENTSD_RULE": "dbs", "STATE_COUNT": "2", "STATE_HASH": hex.EncodeToString(sum[:8]), "STATE_ATTEMPT": "1",
		"ENGINE_A": "tcp://10.0.0.1:2375", "ENGINE_B": "tcp://10.0.0.2:2375", "PGUSER": "admin", "PATH": "/usr/bin:/bin",
	} {
		if got := env(t, cmd, name); got != want {
			t.Errorf("%s=%q, want %q", name, got, want)
		}
	}
	for _, name := range []string{"STATE_HASH", "STATE_COUNT"} {
		n := 0
		for _, kv := range cmd.Env {
			if len(kv) > len(name) && kv[:len(name)+1] == name+"=" {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s set %d times in %q, want once (the daemon's)", name, n, cmd.Env)
		}
	}
	if cmd.Script != "./x" || cmd.Timeout != 7*time.Second || cmd.Grace != time.Second {
		t.Errorf("command = %+v", cmd)
	}
	path := env(t, cmd, "EVENTSD_STATE_FILE")
	mu.Lock()
	content := files[path]
	mu.Unlock()
	if content != string(cmd.Stdin) {
		t.Errorf("state file held %q during the run, want stdin %q", content, cmd.Stdin)
	}
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("state file %s after the run: %v, want it removed", path, err)
	}
	if l := sh.logs.Find("State rule ran"); len(l) != 1 || l[0].Values["rule"] != "dbs" || l[0].Values["count"] != 2 {
		t.Errorf("State rule ran lines = %v", l)
	}
	if l := sh.logs.Find("Ignoring rule env variable: the daemon sets it"); len(l) != 1 || l[0].Values["variable"] != "STATE_COUNT" {
		t.Errorf("shadowed env lines = %v", l)
	}
}

func TestStateRuleChangedRunsOnlyWhenTheSetChanges(t *testing.T) {
	sh := newStateHarness(t, stateConfig(config.StateRule{
		Selector: config.Selector{FromContainer: "db-*"},
		Status:   []string{config.StatusRunning},
		Action:   config.Action{Command: "x"},
	}), nil)
	sh.runEngine("a")
	sh.runEngine("b")
	sh.start()
	sh.sync()
	if runs := sh.wantRuns(1, "at start"); env(t, runs[0], "STATE_COUNT") != "0" || string(runs[0].Stdin) != "[]\n" {
		t.Errorf("first run: count %s, stdin %q; want the empty set", env(t, runs[0], "STATE_COUNT"), runs[0].Stdin)
	}
	sh.startContainer("a", "db-1", nil)
	sh.wantRuns(2, "db-1 started")
	sh.startContainer("a", "web-1", nil) // not selected
	sh.do("a", 1, func(d *informertest.Engine) { d.Create("db-2", "db-2", "postgres", nil) })
	sh.do("a", 1, func(d *informertest.Engine) { d.Emit("exec_start: sh", "db-1", nil) })
	sh.step(time.Minute)
	sh.wantRuns(2, "events that leave the set as it is")
	sh.do("a", 1, func(d *informertest.Engine) { d.Start("db-2") })
	runs := sh.wantRuns(3, "db-2 started")
	if got := names(decodeSet(t, runs[2])); !slices.Equal(got, []string{"a/db-1:running", "a/db-2:running"}) {
		t.Errorf("set = %v", got)
	}
	if env(t, runs[0], "EVENTSD_RULE") != "state-1" {
		t.Errorf("EVENTSD_RULE = %q, want the default name state-1", env(t, runs[0], "EVENTSD_RULE"))
	}
}

func TestStateRuleTriggers(t *testing.T) {
	type step struct {
		do       string // "start" or "die" db-1, or "" to start
		wantRuns int
		count    string // STATE_COUNT of the last run, when one is expected
	}
	tests := []struct {
		trigger string
		running bool // db-1 runs at start
		steps   []step
	}{
		{config.TriggerEmpty, true, []step{{"", 0, ""}, {"die", 1, "0"}, {"start", 1, ""}, {"die", 2, "0"}}},
		{config.TriggerEmpty, false, []step{{"", 1, "0"}, {"start", 1, ""}, {"die", 2, "0"}}},
		{config.TriggerNonEmpty, true, []step{{"", 1, "1"}, {"die", 1, ""}, {"start", 2, "1"}}},
		{config.TriggerNonEmpty, false, []step{{"", 0, ""}, {"start", 1, "1"}, {"die", 1, ""}}},
		{config.TriggerChanged, false, []step{{"", 1, "0"}, {"start", 2, "1"}, {"die", 3, "0"}}},
	}
	for _, tt := range tests {
		t.Run(tt.trigger+"/running="+strconv.FormatBool(tt.running), func(t *testing.T) {
			sh := newStateHarness(t, stateConfig(config.StateRule{
				Selector: config.Selector{FromEngine: "a"},
				Status:   []string{config.StatusRunning},
				Trigger:  tt.trigger,
				Action:   config.Action{Command: "x"},
			}), nil)
			sh.runEngine("a")
			sh.do("a", 1, func(d *informertest.Engine) { d.Create("db-1", "db-1", "postgres", nil) })
			if tt.running {
				sh.do("a", 1, func(d *informertest.Engine) { d.Start("db-1") })
			}
			sh.start()
			for i, st := range tt.steps {
				switch st.do {
				case "":
					sh.sync()
				case "start":
					sh.do("a", 1, func(d *informertest.Engine) { d.Start("db-1") })
				case "die":
					sh.do("a", 1, func(d *informertest.Engine) { d.Die("db-1", 1) })
				}
				runs := sh.wantRuns(st.wantRuns, "step "+strconv.Itoa(i)+" "+st.do)
				if st.count != "" {
					if got := env(t, runs[len(runs)-1], "STATE_COUNT"); got != st.count {
						t.Errorf("step %d: STATE_COUNT=%s, want %s", i, got, st.count)
					}
				}
			}
		})
	}
}

func TestStateRuleSelectsByStatus(t *testing.T) {
	tests := []struct {
		status []string
		want   []string
	}{
		{nil, []string{"a/exited:exited", "a/healthy:running", "a/paused:paused", "a/running:running", "a/sick:running"}},
		{[]string{"running"}, []string{"a/healthy:running", "a/running:running", "a/sick:running"}},
		{[]string{"exited", "paused"}, []string{"a/exited:exited", "a/paused:paused"}},
		{[]string{"healthy"}, []string{"a/healthy:running"}},
		{[]string{"unhealthy", "exited"}, []string{"a/exited:exited", "a/sick:running"}},
		{[]string{"unknown"}, []string{}},
		{[]string{"created", "restarting"}, []string{}},
	}
	for _, tt := range tests {
		t.Run("status="+strings.Join(tt.status, ","), func(t *testing.T) {
			sh := newStateHarness(t, stateConfig(config.StateRule{Selector: config.Selector{FromEngine: "a"}, Status: tt.status, Action: config.Action{Command: "x"}}), nil)
			sh.runEngine("a")
			for _, id := range []string{"running", "healthy", "sick", "exited", "paused"} {
				sh.startContainer("a", id, nil)
			}
			sh.do("a", 3, func(d *informertest.Engine) {
				d.Emit("health_status: healthy", "healthy", nil)
				d.Emit("health_status: unhealthy", "sick", nil)
				d.Die("exited", 0)
			})
			sh.do("a", 1, func(d *informertest.Engine) { d.Emit("pause", "paused", nil) })
			sh.start()
			sh.sync()
			runs := sh.wantRuns(1, "at start")
			if got := names(decodeSet(t, runs[0])); !slices.Equal(got, tt.want) {
				t.Errorf("set = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStateRuleLogOnlyFiresWithoutRunning(t *testing.T) {
	sh := newStateHarness(t, stateConfig(config.StateRule{Name: "watch", Trigger: config.TriggerEmpty, Action: config.Action{Log: "no database"}}), nil)
	sh.runEngine("a")
	sh.runEngine("b")
	sh.start()
	sh.sync()
	sh.step(time.Minute)
	fired := sh.logs.Find("State rule fired")
	if len(fired) != 1 || fired[0].Values["log"] != "no database" || fired[0].Values["reason"] != "start" || fired[0].Values["count"] != 0 {
		t.Errorf("State rule fired = %v, want one at start", fired)
	}
	sh.wantRuns(0, "a rule without command")
}

func TestStateRuleTreatsContainersOfEveryEngineWithTheSameFilters(t *testing.T) {
	sh := newStateHarness(t, stateConfig(config.StateRule{
		Selector: config.Selector{FromEngine: "b", Image: "postgres:*", Labels: map[string]string{"role": "master"}},
		Action:   config.Action{Command: "x"},
	}), nil)
	sh.runEngine("a")
	sh.runEngine("b")
	sh.startContainer("a", "m-a", map[string]string{"role": "master"})
	sh.startContainer("b", "m-b", map[string]string{"role": "master"})
	sh.startContainer("b", "r-b", map[string]string{"role": "replica"})
	sh.start()
	sh.sync()
	runs := sh.wantRuns(1, "at start")
	if got := names(decodeSet(t, runs[0])); !slices.Equal(got, []string{"b/m-b:running"}) {
		t.Errorf("set = %v, want only the master of engine b", got)
	}
	// An event without a container changes nothing.
	sh.c.Handle(&informer.Event{Engine: "a", Type: informer.TypeEngine, Action: informer.ActionEngineUp})
	sh.sync()
	sh.wantRuns(1, "after an engine event")
}

func TestStateSetElementsAreCanonical(t *testing.T) {
	created := time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)
	base := informer.Container{ID: "1", Engine: "a", Name: "db", Labels: map[string]string{}, State: "running", Created: created}
	with := func(f func(c *informer.Container)) *informer.Container {
		c := base
		f(&c)
		return &c
	}
	tests := []struct {
		name string
		in   *informer.Container
		want *informer.Container
	}{
		{"already canonical", &base, &base},
		{"nanoseconds of an inspect", with(func(c *informer.Container) { c.Created = created.Add(123456789) }), &base},
		{"local time", with(func(c *informer.Container) { c.Created = created.In(time.FixedZone("x", 3600)) }), &base},
		{"old exit code of a running container", with(func(c *informer.Container) { c.ExitCode = 137 }), &base},
		{"null labels", with(func(c *informer.Container) { c.Labels = nil }), &base},
		{"no engine", with(func(c *informer.Container) { c.Engine = "" }), &base},
		{"exit code of an exited container", with(func(c *informer.Container) { c.State, c.ExitCode = "exited", 137 }),
			with(func(c *informer.Container) { c.State, c.ExitCode = "exited", 137 })},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			orig := *tt.in
			got := canonical(tt.in, "a")
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("canonical = %+v, want %+v", got, tt.want)
			}
			if !reflect.DeepEqual(*tt.in, orig) {
				t.Errorf("canonical modified its argument")
			}
		})
	}
}
