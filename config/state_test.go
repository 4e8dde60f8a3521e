package config

import (
	"errors"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// state2 is cluster2 without events:, and state: on line 4: the first state
// rule starts on line 5, column 5.
const state2 = `cluster:
  foo: tcp://127.0.0.1:2375
  bar: unix:///var/run/docker.sock
state:
`

func TestParseStateRules(t *testing.T) {
	defRetry := Retry{MaxAttempts: DefaultMaxAttempts, Backoff: DefaultBackoff, MaxBackoff: DefaultMaxBackoff}
	tests := []struct {
		name string
		src  string
		want []StateRule
	}{{
		name: "defaults",
		src:  state2 + "  - command: ./x\n",
		want: []StateRule{{
			Name:            "state-1",
			Trigger:         TriggerChanged,
			EngineDownGrace: DefaultEngineDownGrace,
			Action:          Action{Command: "./x", Timeout: DefaultTimeout, Retry: defRetry},
			Pos:             Pos{Line: 5, Col: 5},
		}},
	}, {
		name: "every field",
		src: state2 + `  - name: master
    from_engine: "*"
    from_container: db-*
    image: "*postgres*"
    image_contains: postgres
    labels: {role: master, team: ""}
    status: [Running, healthy, running]
    trigger: Empty
    engine_down_grace: 0s
    debounce: 2s
    max_delay: 10s
    resync: 5m
    command: ./failover
    log: no master
    timeout: 30s
    retry: {max_attempts: 10, backoff: 2s, max_backoff: 20s}
    env: {PGUSER: admin}
`,
		want: []StateRule{{
			Name: "master",
			Selector: Selector{
				FromEngine:    "*",
				FromContainer: "db-*",
				Image:         "*postgres*",
				ImageContains: "postgres",
				Labels:        map[string]string{"role": "master", "team": ""},
			},
			Status:          []string{StatusRunning, StatusHealthy},
			Trigger:         TriggerEmpty,
			EngineDownGrace: 0,
			Debounce:        2 * time.Second,
			MaxDelay:        10 * time.Second,
			Resync:          5 * time.Minute,
			Action: Action{
				Command: "./failover",
				Log:     "no master",
				Timeout: 30 * time.Second,
				Retry:   Retry{MaxAttempts: 10, Backoff: 2 * time.Second, MaxBackoff: 20 * time.Second},
				Env:     map[string]string{"PGUSER": "admin"},
			},
			Pos: Pos{Line: 5, Col: 5},
		}},
	}, {
		name: "status as a comma-separated string, nulls are defaults",
		src: state2 + `  - status: "exited, dead,unknown"
    trigger: nonempty
    debounce:
    timeout: ~
    log: gone
`,
		want: []StateRule{{
			Name:            "state-1",
			Status:          []string{StatusExited, StatusDead, StatusUnknown},
			Trigger:         TriggerNonEmpty,
			EngineDownGrace: DefaultEngineDownGrace,
			Action:          Action{Log: "gone", Timeout: DefaultTimeout, Retry: defRetry},
			Pos:             Pos{Line: 5, Col: 5},
		}},
	}, {
		name: "max_delay equal to debounce, default names by position",
		src:  state2 + "  - {log: a, debounce: 1s, max_delay: 1s}\n  - {log: b, name: state-1x}\n  - {log: c}\n",
		want: []StateRule{
			{
				Name:            "state-1",
				Trigger:         TriggerChanged,
				EngineDownGrace: DefaultEngineDownGrace,
				Debounce:        time.Second,
				MaxDelay:        time.Second,
				Action:          Action{Log: "a", Timeout: DefaultTimeout, Retry: defRetry},
				Pos:             Pos{Line: 5, Col: 5},
			},
			{
				Name:            "state-1x",
				Trigger:         TriggerChanged,
				EngineDownGrace: DefaultEngineDownGrace,
				Action:          Action{Log: "b", Timeout: DefaultTimeout, Retry: defRetry},
				Pos:             Pos{Line: 6, Col: 5},
			},
			{
				Name:            "state-3",
				Trigger:         TriggerChanged,
				EngineDownGrace: DefaultEngineDownGrace,
				Action:          Action{Log: "c", Timeout: DefaultTimeout, Retry: defRetry},
				Pos:             Pos{Line: 7, Col: 5},
			},
		},
	}, {
		name: "state and event rules may share a name; event-only variables are free",
		src:  "cluster: {foo: 'unix:///s'}\nevents:\n  - {type: die, name: x}\nstate:\n  - {name: x, log: y, env: {FROM_ENGINE: a}}\n",
		want: []StateRule{{
			Name:            "x",
			Trigger:         TriggerChanged,
			EngineDownGrace: DefaultEngineDownGrace,
			Action:          Action{Log: "y", Timeout: DefaultTimeout, Retry: defRetry, Env: map[string]string{"FROM_ENGINE": "a"}},
			Pos:             Pos{Line: 5, Col: 5},
		}},
	}, {
		name: "empty state",
		src:  state2 + "  []\n",
		want: []StateRule{},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, tt.src)
			if !reflect.DeepEqual(cfg.StateRules, tt.want) {
				t.Errorf("StateRules =\n%+v\nwant\n%+v", cfg.StateRules, tt.want)
			}
		})
	}
}

func TestParseStateErrors(t *testing.T) {
	// Each input has exactly one problem. state2 takes lines 1-4, so a state
	// rule's first key is on line 5 at column 5.
	tests := []oneError{
		{"state is a mapping", state2 + "  log: x\n", 5, 3, "state", "expected a list of state rules, got a mapping"},
		{"null state rule", state2 + "  -\n  - log: x\n", 5, 4, "state[0]", "got null"},
		{"string state rule", state2 + "  - x\n", 5, 5, "state[0]", `expected a state rule (a mapping with a selector and a command), got "x"`},
		{"does nothing", state2 + "  - status: running\n", 5, 5, "state[0]", "has neither command nor log"},
		{"unknown field with suggestion", state2 + "  - log: x\n    trigers: empty\n", 6, 5, "state[0].trigers", `unknown field (did you mean "trigger"?); known fields: name, from_engine`},
		{"event field on a state rule", state2 + "  - log: x\n    type: die\n", 6, 5, "state[0].type", "unknown field"},
		{"exit_code on a state rule", state2 + "  - log: x\n    exit_code: 1\n", 6, 5, "state[0].exit_code", "unknown field"},
		{"bad status", state2 + "  - log: x\n    status: runing\n", 6, 13, "state[0].status", `unknown status "runing" (did you mean "running"?); valid statuses: running, exited`},
		{"bad status in string", state2 + "  - log: x\n    status: running, stoped\n", 6, 22, "state[0].status", `unknown status "stoped"`},
		{"bad status in list", state2 + "  - log: x\n    status: [exited, helthy]\n", 6, 22, "state[0].status[1]", `unknown status "helthy" (did you mean "healthy"?)`},
		{"empty status item", state2 + "  - log: x\n    status: running,,exited\n", 6, 21, "state[0].status", "empty status"},
		{"null status", state2 + "  - log: x\n    status:\n", 6, 12, "state[0].status", "must not be empty: leave status out"},
		{"empty status list", state2 + "  - log: x\n    status: []\n", 6, 13, "state[0].status", "must not be empty"},
		{"status mapping", state2 + "  - log: x\n    status: {a: b}\n", 6, 13, "state[0].status", "expected a comma-separated string or a list of statuses, got a mapping"},
		{"status list of lists", state2 + "  - log: x\n    status: [[running]]\n", 6, 14, "state[0].status[0]", "expected a string, got a list"},
		{"bad trigger", state2 + "  - log: x\n    trigger: chnaged\n", 6, 14, "state[0].trigger", `unknown trigger "chnaged" (did you mean "changed"?); valid triggers: changed, empty, nonempty`},
		{"trigger list", state2 + "  - log: x\n    trigger: [empty]\n", 6, 14, "state[0].trigger", "expected a string, got a list"},
		{"bad debounce", state2 + "  - log: x\n    debounce: 5\n", 6, 15, "state[0].debounce", `invalid duration "5"`},
		{"negative debounce", state2 + "  - log: x\n    debounce: -1s\n", 6, 15, "state[0].debounce", "must not be negative"},
		{"debounce list", state2 + "  - log: x\n    debounce: [1s]\n", 6, 15, "state[0].debounce", "expected a duration, got a list"},
		{"zero max_delay", state2 + "  - log: x\n    max_delay: 0s\n", 6, 16, "state[0].max_delay", "must be positive"},
		{"max_delay < debounce", state2 + "  - log: x\n    debounce: 5s\n    max_delay: 1s\n", 7, 16, "state[0].max_delay", "must not be less than debounce (5s), got 1s"},
		{"max_delay < debounce, other order", state2 + "  - log: x\n    max_delay: 1s\n    debounce: 2s\n", 6, 16, "state[0].max_delay", "must not be less than debounce (2s)"},
		{"bad engine_down_grace", state2 + "  - log: x\n    engine_down_grace: 10 seconds\n", 6, 24, "state[0].engine_down_grace", `invalid duration "10 seconds"`},
		{"resync too short", state2 + "  - log: x\n    resync: 100ms\n", 6, 13, "state[0].resync", "must be at least 1s"},
		{"zero resync", state2 + "  - log: x\n    resync: 0s\n", 6, 13, "state[0].resync", "must be at least 1s"},
		{"zero timeout", state2 + "  - log: x\n    timeout: 0s\n", 6, 14, "state[0].timeout", "must be positive"},
		{"retry typo", state2 + "  - log: x\n    retry: {backof: 1s}\n", 6, 13, "state[0].retry.backof", `did you mean "backoff"?`},
		{"max_backoff < backoff", state2 + "  - log: x\n    retry: {backoff: 5s, max_backoff: 1s}\n", 6, 39, "state[0].retry.max_backoff", "must not be less than backoff"},
		{"unknown engine", state2 + "  - log: x\n    from_engine: baz\n", 6, 18, "state[0].from_engine", `unknown engine "baz" (did you mean "bar"?); engines: foo, bar`},
		{"glob matching no engine", state2 + "  - log: x\n    from_engine: prod-*\n", 6, 18, "state[0].from_engine", `"prod-*" matches no engine`},
		{"bad container glob", state2 + "  - log: x\n    from_container: 'db\\'\n", 6, 21, "state[0].from_container", "invalid glob"},
		{"empty label key", state2 + "  - log: x\n    labels: {'': x}\n", 6, 14, "state[0].labels.", "key must not be empty"},
		{"env overrides STATE_HASH", state2 + "  - log: x\n    env: {STATE_HASH: x}\n", 6, 11, "state[0].env.STATE_HASH", "set by the daemon"},
		{"env overrides engine var", state2 + "  - log: x\n    env: {ENGINE_FOO: x}\n", 6, 11, "state[0].env.ENGINE_FOO", `URL of engine "foo"`},
		{"env bad name", state2 + "  - log: x\n    env: {A-B: x}\n", 6, 11, "state[0].env.A-B", "invalid variable name"},
		{"empty name", state2 + "  - log: x\n    name: ''\n", 6, 11, "state[0].name", "must not be empty"},
		{"multi-line name", state2 + "  - log: x\n    name: \"a\\nb\"\n", 6, 11, "state[0].name", "single line"},
		{"duplicate names", state2 + "  - {name: m, log: x}\n  - {name: m, log: y}\n", 6, 6, "state[1].name", `duplicate state rule name "m" (first used at line 5)`},
		{"default name taken", state2 + "  - {name: state-2, log: x}\n  - {log: y}\n", 6, 5, "state[1].name", `default name "state-2" is taken by the state rule at line 5`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkOneError(t, tt) })
	}
}

func TestParseStateReportsEveryError(t *testing.T) {
	src := state2 + `  - trigger: sometimes
    status: [sleeping]
    debounce: 3s
    max_delay: 1s
  - name: x
    command: ./a
  - name: x
    command: ./b
`
	_, err := testLoader(testEnv()).Parse("events.yml", []byte(src))
	want := []string{
		`events.yml:5:14: state[0].trigger: unknown trigger "sometimes"`,
		`events.yml:6:14: state[0].status[0]: unknown status "sleeping"`,
		`events.yml:8:16: state[0].max_delay: must not be less than debounce (3s), got 1s`,
		`events.yml:11:5: state[2].name: duplicate state rule name "x" (first used at line 9)`,
	}
	var list ErrorList
	if !errors.As(err, &list) || len(list) != len(want) {
		t.Fatalf("errors:\n%v\nwant %d", err, len(want))
	}
	for i, w := range want {
		if !strings.HasPrefix(list[i].Error(), w) {
			t.Errorf("error %d = %s\nwant %s...", i, list[i], w)
		}
	}
}

func TestSummaryCountsStateRules(t *testing.T) {
	cfg := mustParse(t, state2+"  - log: x\n  - log: y\n")
	if got, want := cfg.Summary(), "events.yml: 2 engines, 0 rules, 2 state rules"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}

func TestLoadExampleShowsEveryStateField(t *testing.T) {
	cfg, err := testLoader(map[string]string{"HOME": "/home/test"}).Load(filepath.Join("..", "events.yml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	seen := map[string]bool{}
	for _, r := range cfg.StateRules {
		for f, set := range map[string]bool{
			"name": !strings.HasPrefix(r.Name, "state-"), "from_engine": r.FromEngine != "", "from_container": r.FromContainer != "",
			"image_contains": r.ImageContains != "", "image": r.Image != "", "labels": len(r.Labels) > 0,
			"status": len(r.Status) > 0, "trigger": r.Trigger != TriggerChanged, "engine_down_grace": r.EngineDownGrace != DefaultEngineDownGrace,
			"debounce": r.Debounce != 0, "max_delay": r.MaxDelay != 0, "resync": r.Resync != 0,
			"command": r.Command != "", "log": r.Log != "", "timeout": r.Timeout != DefaultTimeout,
			"retry": r.Retry.MaxAttempts != DefaultMaxAttempts, "env": len(r.Env) > 0,
			"monitors": len(r.Monitors) > 0,
		} {
			seen[f] = seen[f] || set
		}
	}
	for _, f := range stateFields() {
		if !seen[f] {
			t.Errorf("events.yml shows no state rule with %s:", f)
		}
	}
}
