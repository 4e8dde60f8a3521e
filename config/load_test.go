package config

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"testing"
	"time"
)

func TestLoadOriginal(t *testing.T) {
	cfg, err := testLoader(testEnv()).Load("testdata/original.yml")
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	wantEngines := []Engine{
		{Name: "foo", URL: "tcp://192.168.59.103:2375", Pos: Pos{Line: 2, Col: 5}},
		{Name: "bar", URL: "tcp://192.168.59.105:2375", Pos: Pos{Line: 3, Col: 5}},
	}
	if !reflect.DeepEqual(cfg.Engines, wantEngines) {
		t.Errorf("Engines = %+v, want %+v", cfg.Engines, wantEngines)
	}
	wantRules := []Rule{{
		Name:     "rule-1",
		Types:    []string{"kill", TypeEngineDown, "die"},
		Selector: Selector{FromEngine: "foo", ImageContains: "ubuntu"},
		Action: Action{
			Command: "docker -H $ENGINE_FOO exec -- echo hello world",
			Log:     "This is a test",
			Timeout: DefaultTimeout,
			Retry:   Retry{MaxAttempts: DefaultMaxAttempts, Backoff: DefaultBackoff, MaxBackoff: DefaultMaxBackoff},
		},
		Pos: Pos{Line: 7, Col: 9},
	}}
	if !reflect.DeepEqual(cfg.Rules, wantRules) {
		t.Errorf("Rules = %+v, want %+v", cfg.Rules, wantRules)
	}
	if cfg.File != "testdata/original.yml" {
		t.Errorf("File = %q", cfg.File)
	}
	if got, want := cfg.Summary(), "testdata/original.yml: 2 engines, 1 rule"; got != want {
		t.Errorf("Summary() = %q, want %q", got, want)
	}
}

func TestLoadExample(t *testing.T) {
	env := map[string]string{"HOME": "/home/test"}
	cfg, err := testLoader(env).Load(filepath.Join("..", "events.yml"))
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	var names []string
	for _, e := range cfg.Engines {
		names = append(names, e.Name)
	}
	if want := []string{"local", "build", "prod-1", "prod-2"}; !slices.Equal(names, want) {
		t.Errorf("engines = %v, want %v", names, want)
	}
	if e, _ := cfg.Engine("build"); e == nil || e.URL != "tcp://127.0.0.1:2375" {
		t.Errorf("build = %+v, want URL from the ${BUILD_HOST:-...} default", e)
	}
	prod, _ := cfg.Engine("prod-1")
	if prod == nil || prod.TLS == nil || prod.TLS.CA != "/home/test/.docker/prod/ca.pem" || !prod.TLS.Verify {
		t.Errorf("prod-1 = %+v", prod)
	}
	if len(cfg.Rules) < 5 {
		t.Fatalf("%d rules, want at least 5", len(cfg.Rules))
	}
	crash := cfg.Rules[1]
	if crash.Name != "restart-crashed-workers" || crash.Timeout != 2*time.Minute || crash.Retry.MaxAttempts != 5 {
		t.Errorf("merged rule = %+v", crash)
	}
	// Every field of a rule is shown somewhere in the example.
	seen := map[string]bool{}
	for _, r := range cfg.Rules {
		for f, set := range map[string]bool{
			"name": r.Name != "", "from_engine": r.FromEngine != "", "from_container": r.FromContainer != "",
			"image_contains": r.ImageContains != "", "image": r.Image != "", "labels": len(r.Labels) > 0,
			"exit_code": len(r.ExitCodes) > 0, "command": r.Command != "", "log": r.Log != "",
			"timeout": r.Timeout != DefaultTimeout, "retry": r.Retry.MaxAttempts != DefaultMaxAttempts,
			"env": len(r.Env) > 0, "object": len(r.Objects) > 0, "on_failure": r.OnFailure != "",
			"cooldown": r.Cooldown != 0, "webhook": r.Webhook != nil,
			"from_monitor": r.FromMonitor != "",
		} {
			seen[f] = seen[f] || set
		}
	}
	for _, f := range ruleFields() {
		if f != "type" && !seen[f] {
			t.Errorf("events.yml shows no %s:", f)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := Load(filepath.Join(t.TempDir(), "nope.yml"))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("Load = %v, want an error wrapping fs.ErrNotExist", err)
	}
}

func TestParseValid(t *testing.T) {
	tests := []struct {
		name  string
		src   string
		check func(t *testing.T, cfg *Config)
	}{{
		name: "engines keep file order, short and long form",
		src: `cluster:
  zeta: tcp://127.0.0.1:1
  alpha:
    url: https://example.com
    labels: {env: prod, empty: ~}
  mid: unix:///run/docker.sock
`,
		check: func(t *testing.T, cfg *Config) {
			var names []string
			for _, e := range cfg.Engines {
				names = append(names, e.Name)
			}
			if want := []string{"zeta", "alpha", "mid"}; !slices.Equal(names, want) {
				t.Errorf("order = %v, want %v", names, want)
			}
			a, ok := cfg.Engine("alpha")
			if !ok || a.URL != "https://example.com" || a.TLS != nil || !reflect.DeepEqual(a.Labels, map[string]string{"env": "prod", "empty": ""}) {
				t.Errorf("alpha = %+v", a)
			}
			if len(cfg.Rules) != 0 {
				t.Errorf("rules = %+v, want none", cfg.Rules)
			}
			if _, ok := cfg.Engine("nope"); ok {
				t.Error("Engine(nope) found")
			}
		},
	}, {
		name: "variables expand in URLs and TLS paths",
		src: `cluster:
  a: tcp://${HOST}:$PORT
  b: tcp://${UNSET_HOST:-127.0.0.1}:${PORT}
  c: unix://$UNIX_DIR/docker.sock
  d: tcp://${EMPTY:-fallback}:1
  e:
    url: tcp://$HOST:1
    tls:
      ca: ${CERTS}/ca.pem
      cert: $CERTS/cert.pem
      key: $CERTS/key$$.pem
  f: tcp://${DOLLARS}:1
`,
		check: func(t *testing.T, cfg *Config) {
			want := map[string]string{
				"a": "tcp://10.0.0.1:2376",
				"b": "tcp://127.0.0.1:2376",
				"c": "unix:///run/user/1000/docker.sock",
				"d": "tcp://fallback:1",
				"e": "tcp://10.0.0.1:1",
				"f": "tcp://$HOST:1", // values are not expanded again
			}
			for name, url := range want {
				if e, _ := cfg.Engine(name); e == nil || e.URL != url {
					t.Errorf("%s = %+v, want URL %s", name, e, url)
				}
			}
			e, _ := cfg.Engine("e")
			wantTLS := &TLS{CA: "/etc/certs/ca.pem", Cert: "/etc/certs/cert.pem", Key: "/etc/certs/key$.pem", Verify: true,
				CAPos: Pos{Line: 9, Col: 11}, CertPos: Pos{Line: 10, Col: 13}, KeyPos: Pos{Line: 11, Col: 12}}
			if !reflect.DeepEqual(e.TLS, wantTLS) {
				t.Errorf("TLS = %+v, want %+v", e.TLS, wantTLS)
			}
		},
	}, {
		name: "tls verify false, empty tls, null tls",
		src: `cluster:
  a:
    url: tcp://h:2376
    tls: {verify: false}
  b:
    url: https://h
    tls: {}
  c:
    url: tcp://h:2375
    tls:
`,
		check: func(t *testing.T, cfg *Config) {
			if a, _ := cfg.Engine("a"); a.TLS == nil || a.TLS.Verify {
				t.Errorf("a.TLS = %+v, want Verify false", a.TLS)
			}
			if b, _ := cfg.Engine("b"); b.TLS == nil || !b.TLS.Verify {
				t.Errorf("b.TLS = %+v, want Verify true", b.TLS)
			}
			if c, _ := cfg.Engine("c"); c.TLS != nil {
				t.Errorf("c.TLS = %+v, want nil", c.TLS)
			}
		},
	}, {
		name: "types: trimmed, lower-cased, deduplicated, tcp_disconnect, health statuses",
		src: cluster2 + `  - type: " Die ,KILL, tcp_disconnect,engine_down, health_status: Healthy,health_status"
  - type: [start, "exec_start", {health_status: unhealthy}, health_status:starting, "*", engine_up]
  - type: archive-path, extract-to-dir, prune
`,
		check: func(t *testing.T, cfg *Config) {
			want := [][]string{
				{"die", "kill", "engine_down", "health_status:healthy", "health_status"},
				{"start", "exec_start", "health_status:unhealthy", "health_status:starting", "*", "engine_up"},
				{"archive-path", "extract-to-dir", "prune"},
			}
			for i, r := range cfg.Rules {
				if !slices.Equal(r.Types, want[i]) {
					t.Errorf("rule %d types = %q, want %q", i, r.Types, want[i])
				}
			}
			if !cfg.Rules[1].HasType(TypeAll) || cfg.Rules[0].HasType(TypeAll) {
				t.Error("HasType(*) wrong")
			}
		},
	}, {
		name: "defaults and every rule field",
		src: cluster2 + `  - type: die
  - name: full
    type: die
    from_engine: f*
    from_container: web-?
    image_contains: nginx
    image: "*nginx:*"
    labels: {a: b, c: "", d: ~, e: 1}
    exit_code: [1, 137, 1]
    command: |
      echo "$FROM_CONTAINER" ${HOST}
    log: hi
    timeout: 1m30s
    retry: {max_attempts: 1, backoff: 500ms, max_backoff: 2s}
    env: {A: x, _b2: "", N: 3, ENGINE: y}
  - type: die
    exit_code: 0
  - type: die, kill
    retry: {backoff: 2m}
  - type: "*"
    exit_code: 3
    retry: {max_backoff: 100ms}
`,
		check: func(t *testing.T, cfg *Config) {
			def := Rule{
				Name:   "rule-1",
				Types:  []string{"die"},
				Action: Action{Timeout: DefaultTimeout, Retry: Retry{MaxAttempts: 3, Backoff: time.Second, MaxBackoff: time.Minute}},
				Pos:    Pos{Line: 5, Col: 5},
			}
			if !reflect.DeepEqual(cfg.Rules[0], def) {
				t.Errorf("rule 0 = %+v, want %+v", cfg.Rules[0], def)
			}
			full := Rule{
				Name:  "full",
				Types: []string{"die"},
				Selector: Selector{
					FromEngine:    "f*",
					FromContainer: "web-?",
					ImageContains: "nginx",
					Image:         "*nginx:*",
					Labels:        map[string]string{"a": "b", "c": "", "d": "", "e": "1"},
				},
				ExitCodes: []int{1, 137},
				Action: Action{
					Command: "echo \"$FROM_CONTAINER\" ${HOST}\n",
					Log:     "hi",
					Timeout: 90 * time.Second,
					Retry:   Retry{MaxAttempts: 1, Backoff: 500 * time.Millisecond, MaxBackoff: 2 * time.Second},
					Env:     map[string]string{"A": "x", "_b2": "", "N": "3", "ENGINE": "y"},
				},
				Pos: Pos{Line: 6, Col: 5},
			}
			if !reflect.DeepEqual(cfg.Rules[1], full) {
				t.Errorf("rule 1 = %+v\nwant     %+v", cfg.Rules[1], full)
			}
			if r := cfg.Rules[2]; r.Name != "rule-3" || !slices.Equal(r.ExitCodes, []int{0}) {
				t.Errorf("rule 2 = %+v", r)
			}
			if r := cfg.Rules[3].Retry; r.Backoff != 2*time.Minute || r.MaxBackoff != 2*time.Minute {
				t.Errorf("backoff above the default max_backoff: retry = %+v, want max_backoff raised to 2m", r)
			}
			if r := cfg.Rules[4].Retry; r.Backoff != 100*time.Millisecond || r.MaxBackoff != 100*time.Millisecond {
				t.Errorf("max_backoff below the default backoff: retry = %+v, want backoff lowered to 100ms", r)
			}
		},
	}, {
		name: "null and empty values mean unset",
		src: cluster2 + `  - type: die
    name: ~
    from_engine:
    command: ""
    timeout: ~
    retry: ~
    env: ~
    labels: {}
  - type: die
    retry: {max_attempts: ~, backoff: ~, max_backoff: ~}
`,
		check: func(t *testing.T, cfg *Config) {
			r := cfg.Rules[0]
			if r.Name != "rule-1" || r.FromEngine != "" || r.Timeout != DefaultTimeout || r.Retry.MaxAttempts != DefaultMaxAttempts || r.Env != nil || r.Labels != nil {
				t.Errorf("rule = %+v", r)
			}
			if r := cfg.Rules[1].Retry; !reflect.DeepEqual(r, Retry{MaxAttempts: DefaultMaxAttempts, Backoff: DefaultBackoff, MaxBackoff: DefaultMaxBackoff}) {
				t.Errorf("retry = %+v, want the defaults", r)
			}
		},
	}, {
		name: "rule on engine events with from_engine only",
		src:  cluster2 + "  - {type: engine_down, from_engine: \"b?r\"}\n  - {type: \"engine_up\", from_engine: \"*\", command: 'true'}\n",
		check: func(t *testing.T, cfg *Config) {
			if len(cfg.Rules) != 2 || cfg.Rules[0].FromEngine != "b?r" {
				t.Errorf("rules = %+v", cfg.Rules)
			}
		},
	}, {
		name: "empty or absent events",
		src:  "cluster: {foo: 'tcp://h:1'}\nevents: []\n",
		check: func(t *testing.T, cfg *Config) {
			if len(cfg.Rules) != 0 || cfg.Summary() != "events.yml: 1 engine, 0 rules" {
				t.Errorf("Summary() = %q", cfg.Summary())
			}
		},
	}, {
		name: "null events",
		src:  "cluster: {foo: 'tcp://h:1'}\nevents:\n",
		check: func(t *testing.T, cfg *Config) {
			if len(cfg.Rules) != 0 {
				t.Errorf("rules = %+v", cfg.Rules)
			}
		},
	}, {
		name: "anchors, aliases, merges and x- keys",
		src: `x-defaults: &defaults
  timeout: 5s
  log: from defaults
x-more: &more
  retry: {max_attempts: 7}
  log: from more
x-engine: &url tcp://h:1
cluster:
  a: *url
  b:
    url: *url
events:
  - &first
    name: first
    type: die
    <<: [*defaults, *more]
  - <<: *first
    name: second
    log: own
`,
		check: func(t *testing.T, cfg *Config) {
			if b, _ := cfg.Engine("b"); b == nil || b.URL != "tcp://h:1" {
				t.Errorf("b = %+v", b)
			}
			first, second := cfg.Rules[0], cfg.Rules[1]
			if first.Timeout != 5*time.Second || first.Log != "from defaults" || first.Retry.MaxAttempts != 7 {
				t.Errorf("first = %+v (earlier merges win)", first)
			}
			if second.Name != "second" || second.Log != "own" || second.Timeout != 5*time.Second || !slices.Equal(second.Types, []string{"die"}) {
				t.Errorf("second = %+v (explicit keys win)", second)
			}
		},
	}, {
		name: "neither command nor log",
		src:  cluster2 + "  - type: start\n",
		check: func(t *testing.T, cfg *Config) {
			if r := cfg.Rules[0]; r.Command != "" || r.Log != "" {
				t.Errorf("rule = %+v", r)
			}
		},
	}, {
		name: "URL forms",
		src: `cluster:
  a: tcp://[::1]:2375
  b: http://h
  c: https://h:8443/base/path
  d: tcp://h:2375/v1
  e: unix://relative.sock
`,
		check: func(t *testing.T, cfg *Config) {
			if len(cfg.Engines) != 5 {
				t.Errorf("engines = %+v", cfg.Engines)
			}
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.check(t, mustParse(t, tt.src))
		})
	}
}

func TestDefault(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"unset", nil, "unix:///var/run/docker.sock"},
		{"empty", map[string]string{"DOCKER_HOST": ""}, "unix:///var/run/docker.sock"},
		{"set", map[string]string{"DOCKER_HOST": "tcp://10.0.0.1:2375"}, "tcp://10.0.0.1:2375"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := testLoader(tt.env).Default()
			want := &Config{Engines: []Engine{{Name: "local", URL: tt.want}}}
			if !reflect.DeepEqual(cfg, want) {
				t.Errorf("Default() = %+v, want %+v", cfg, want)
			}
			if got := cfg.Summary(); got != "default config: 1 engine, 0 rules" {
				t.Errorf("Summary() = %q", got)
			}
		})
	}
	if got, want := Default().Engines[0].URL, os.Getenv("DOCKER_HOST"); want != "" && got != want {
		t.Errorf("Default() URL = %q, want $DOCKER_HOST %q", got, want)
	}
}

func TestEngineEnvVar(t *testing.T) {
	tests := []struct{ name, want string }{
		{"foo", "ENGINE_FOO"},
		{"docker-1.prod", "ENGINE_DOCKER_1_PROD"},
		{"Mixed_Case", "ENGINE_MIXED_CASE"},
		{"9", "ENGINE_9"},
	}
	for _, tt := range tests {
		if got := EngineEnvVar(tt.name); got != tt.want {
			t.Errorf("EngineEnvVar(%q) = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func BenchmarkParseExample(b *testing.B) {
	data, err := os.ReadFile(filepath.Join("..", "events.yml"))
	if err != nil {
		b.Fatal(err)
	}
	loader := testLoader(map[string]string{"HOME": "/home/test"})
	for b.Loop() {
		if _, err := loader.Parse("events.yml", data); err != nil {
			b.Fatal(err)
		}
	}
}
