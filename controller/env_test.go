package controller

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/reconcile"
)

func TestEngineVar(t *testing.T) {
	tests := map[string]string{
		"local":      "ENGINE_LOCAL",
		"web-1":      "ENGINE_WEB_1",
		"Prod.eu_2":  "ENGINE_PROD_EU_2",
		"ünïcode":    "ENGINE__N_CODE",
		"a b/c$(x)":  "ENGINE_A_B_C__X_",
		"ALREADY_OK": "ENGINE_ALREADY_OK",
	}
	for name, want := range tests {
		if got := engineVar(name); got != want {
			t.Errorf("engineVar(%q) = %q, want %q", name, got, want)
		}
	}
}

func TestEngineVarsFirstEngineKeepsACollidingName(t *testing.T) {
	got := engineVars([]config.Engine{{Name: "web-1", URL: "tcp://a:2375"}, {Name: "web.1", URL: "tcp://b:2375"}, {Name: "db", URL: "unix:///x"}})
	want := []string{"ENGINE_WEB_1=tcp://a:2375", "ENGINE_DB=unix:///x"}
	if !slices.Equal(got, want) {
		t.Errorf("engineVars = %q, want %q", got, want)
	}
}

// envEngines are the engines of the env tests.
var envEngines = []config.Engine{
	{Name: "local", URL: "unix:///var/run/docker.sock", Labels: map[string]string{"dc": "eu"}},
	{Name: "web-2", URL: "tcp://10.0.0.2:2376"},
}

func TestHandlerEnv(t *testing.T) {
	engVars := []string{"ENGINE_LOCAL=unix:///var/run/docker.sock", "ENGINE_WEB_2=tcp://10.0.0.2:2376"}
	evTime := time.Date(2026, 3, 4, 5, 6, 7, 123456789, time.FixedZone("CET", 3600))
	pwned := &informer.Event{
		ID: "id-1", Engine: "local", Type: informer.TypeContainer, Action: "start", ActorID: "abc",
		Time: evTime, Container: &informer.Container{ID: "abc", Name: "$(touch /tmp/pwned)", Image: "x`id`:1"},
	}
	die := &informer.Event{
		ID: "id-2", Engine: "web-2", Type: informer.TypeContainer, Action: "die", ActorID: "def",
		Attributes: map[string]string{"exitCode": "9"}, Time: evTime, Synthetic: true,
		Container: &informer.Container{ID: "def", Name: "db", Image: "postgres", ExitCode: 137},
	}
	down := &informer.Event{ID: "id-3", Engine: "local", Type: informer.TypeEngine, Action: "engine_down", Time: evTime, Synthetic: true}
	health := &informer.Event{
		ID: "id-4", Engine: "local", Type: informer.TypeContainer, Action: "health_status: unhealthy", ActorID: "abc",
		Time: evTime, Container: &informer.Container{ID: "abc", Name: "web", Image: "nginx"},
	}
	const wantTime = "EVENT_TIME=2026-03-04T04:06:07.123456789Z"
	tests := []struct {
		name     string
		environ  []string
		ruleEnv  map[string]string
		ev       *informer.Event
		url      string
		attempt  int
		want     []string
		shadowed []string
	}{
		{
			name:    "container values arrive literally",
			environ: []string{"PATH=/usr/bin:/bin", "HOME=/root"},
			ev:      pwned, url: "unix:///var/run/docker.sock", attempt: 1,
			want: []string{"PATH=/usr/bin:/bin", "HOME=/root", engVars[0], engVars[1],
				"FROM_ENGINE=local", "FROM_ENGINE_URL=unix:///var/run/docker.sock", "FROM_CONTAINER=$(touch /tmp/pwned)",
				"EVENT_TYPE=container", "EVENT_OBJECT=container", "EVENT_ACTION=start", "EVENT_ID=id-1", wantTime, "EVENT_ATTEMPT=1",
				"EVENT_SYNTHETIC=0", "CONTAINER_ID=abc", "CONTAINER_IMAGE=x`id`:1", "EVENTSD_RULE=r"},
		},
		{
			name: "die has the exit code of the cache, synthetic, attempt 3",
			ev:   die, url: "tcp://10.0.0.2:2376", attempt: 3,
			want: []string{engVars[0], engVars[1],
				"FROM_ENGINE=web-2", "FROM_ENGINE_URL=tcp://10.0.0.2:2376", "FROM_CONTAINER=db",
				"EVENT_TYPE=container", "EVENT_OBJECT=container", "EVENT_ACTION=die", "EVENT_ID=id-2", wantTime, "EVENT_ATTEMPT=3",
				"EVENT_SYNTHETIC=1", "CONTAINER_ID=def", "CONTAINER_IMAGE=postgres", "CONTAINER_EXIT_CODE=137", "EVENTSD_RULE=r"},
		},
		{
			name: "engine event has empty container variables",
			ev:   down, url: "unix:///var/run/docker.sock", attempt: 2,
			want: []string{engVars[0], engVars[1],
				"FROM_ENGINE=local", "FROM_ENGINE_URL=unix:///var/run/docker.sock", "FROM_CONTAINER=",
				"EVENT_TYPE=engine", "EVENT_OBJECT=engine", "EVENT_ACTION=engine_down", "EVENT_ID=id-3", wantTime, "EVENT_ATTEMPT=2",
				"EVENT_SYNTHETIC=1", "CONTAINER_ID=", "CONTAINER_IMAGE=", "EVENTSD_RULE=r"},
		},
		{
			name: "type is the object kind, action as sent",
			ev:   health, url: "u", attempt: 1,
			want: []string{engVars[0], engVars[1],
				"FROM_ENGINE=local", "FROM_ENGINE_URL=u", "FROM_CONTAINER=web",
				"EVENT_TYPE=container", "EVENT_OBJECT=container", "EVENT_ACTION=health_status: unhealthy", "EVENT_ID=id-4", wantTime, "EVENT_ATTEMPT=1",
				"EVENT_SYNTHETIC=0", "CONTAINER_ID=abc", "CONTAINER_IMAGE=nginx", "EVENTSD_RULE=r"},
		},
		{
			name:    "rule env overrides the daemon env, sorted, not the daemon-made variables",
			environ: []string{"PATH=/bin", "LANG=C", "EVENT_ID=stale", "ENGINE_LOCAL=stale", "CONTAINER_EXIT_CODE=1", "ENGINE_OTHER=kept", "NOEQUALS"},
			ruleEnv: map[string]string{"LANG": "fr_FR.UTF-8", "B": "$(x) ${Y} `z`", "A": "", "EVENT_ID": "mine", "FROM_CONTAINER": "mine", "ENGINE_WEB_2": "mine"},
			ev:      down, url: "unix:///var/run/docker.sock", attempt: 1,
			want: []string{"PATH=/bin", "ENGINE_OTHER=kept", "NOEQUALS", "A=", "B=$(x) ${Y} `z`", "LANG=fr_FR.UTF-8", engVars[0], engVars[1],
				"FROM_ENGINE=local", "FROM_ENGINE_URL=unix:///var/run/docker.sock", "FROM_CONTAINER=",
				"EVENT_TYPE=engine", "EVENT_OBJECT=engine", "EVENT_ACTION=engine_down", "EVENT_ID=id-3", wantTime, "EVENT_ATTEMPT=1",
				"EVENT_SYNTHETIC=1", "CONTAINER_ID=", "CONTAINER_IMAGE=", "EVENTSD_RULE=r"},
			shadowed: []string{"ENGINE_WEB_2", "EVENT_ID", "FROM_CONTAINER"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			base, shadowed := baseEnv(tt.environ, tt.ruleEnv, engVars, reservedEnv(envEngines))
			got := eventEnv(base, "r", tt.ev, tt.url, tt.attempt)
			if !slices.Equal(got, tt.want) {
				t.Errorf("env:\n got %q\nwant %q", got, tt.want)
			}
			if !slices.Equal(shadowed, tt.shadowed) {
				t.Errorf("shadowed = %q, want %q", shadowed, tt.shadowed)
			}
		})
	}
}

func TestStdinJSON(t *testing.T) {
	evTime := time.Date(2026, 3, 4, 5, 6, 7, 8, time.UTC)
	tests := []struct {
		name   string
		ev     *informer.Event
		engine *config.Engine
		want   string
	}{
		{
			name: "container event",
			ev: &informer.Event{ID: "id-1", Engine: "local", Type: "container", Action: "die", ActorID: "abc",
				Attributes: map[string]string{"exitCode": "1", "name": "<web>&"}, Time: evTime,
				Container: &informer.Container{ID: "abc", Engine: "local", Name: "<web>&", Image: "nginx",
					Labels: map[string]string{"lb": "web"}, State: "exited", ExitCode: 1, Created: evTime}},
			engine: &envEngines[0],
			want: `{"rule":"r","event":{"id":"id-1","engine":"local","type":"container","action":"die","actorId":"abc",` +
				`"attributes":{"exitCode":"1","name":"<web>&"},"time":"2026-03-04T05:06:07.000000008Z","synthetic":false},` +
				`"container":{"id":"abc","engine":"local","name":"<web>&","image":"nginx","labels":{"lb":"web"},"state":"exited",` +
				`"exitCode":1,"created":"2026-03-04T05:06:07.000000008Z"},` +
				`"engine":{"name":"local","url":"unix:///var/run/docker.sock","labels":{"dc":"eu"}}}` + "\n",
		},
		{
			name:   "engine event",
			ev:     &informer.Event{ID: "id-2", Engine: "web-2", Type: "engine", Action: "engine_up", Time: evTime, Synthetic: true},
			engine: &envEngines[1],
			want: `{"rule":"r","event":{"id":"id-2","engine":"web-2","type":"engine","action":"engine_up","actorId":"",` +
				`"attributes":{},"time":"2026-03-04T05:06:07.000000008Z","synthetic":true},"container":null,` +
				`"engine":{"name":"web-2","url":"tcp://10.0.0.2:2376","labels":{}}}` + "\n",
		},
		{
			name: "unknown engine",
			ev:   &informer.Event{ID: "id-3", Engine: "gone", Type: "engine", Action: "engine_down", Time: evTime},
			want: `{"rule":"r","event":{"id":"id-3","engine":"gone","type":"engine","action":"engine_down","actorId":"",` +
				`"attributes":{},"time":"2026-03-04T05:06:07.000000008Z","synthetic":false},"container":null,` +
				`"engine":{"name":"gone","url":"","labels":{}}}` + "\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := stdinJSON("r", tt.ev, tt.engine)
			if err != nil {
				t.Fatal(err)
			}
			if string(got) != tt.want {
				t.Errorf("stdin:\n got %s\nwant %s", got, tt.want)
			}
		})
	}
}

// TestHostileContainerNameReachesHandlerLiterally runs a real handler through
// reconcile.Runner: the name is a value, never a command.
func TestHostileContainerNameReachesHandlerLiterally(t *testing.T) {
	dir := t.TempDir()
	marker := filepath.Join(dir, "pwned")
	name := "$(touch " + marker + ")`touch " + marker + "`;touch " + marker
	cfg := &config.Config{
		Engines: envEngines,
		Rules: []config.Rule{{
			Name:   "echo",
			Types:  []string{"start"},
			Action: config.Action{Timeout: 10 * time.Second, Command: `printf '%s' "$FROM_CONTAINER"; cat >/dev/null`},
		}},
	}
	runner := reconcile.NewRunner(reconcile.Options{})
	h := newHarness(t, cfg, recordingRunner(runner), 1)
	h.start()
	h.c.Handle(&informer.Event{ID: "x", Engine: "local", Type: informer.TypeContainer, Action: "start", ActorID: "c1",
		Container: &informer.Container{ID: "c1", Name: name}})
	fin := h.waitFinished(1)
	if fin[0].Err != nil {
		t.Fatalf("handler failed: %v (stderr %q)", fin[0].Err, fin[0].Result.Stderr)
	}
	if got := string(fin[0].Result.Stdout); got != name {
		t.Errorf("handler saw FROM_CONTAINER=%q, want %q", got, name)
	}
	if _, err := os.Stat(marker); err == nil {
		t.Errorf("%s exists: the container name was run as a command", marker)
	}
	if !bytes.Contains(fin[0].Cmd.Stdin, []byte(`"name":"`+strings.ReplaceAll(name, `"`, `\"`)+`"`)) {
		t.Errorf("stdin does not hold the name literally: %s", fin[0].Cmd.Stdin)
	}
}

// recordingRunner returns a fake-runner Func that runs commands on r.
func recordingRunner(r *reconcile.Runner) func(context.Context, reconcile.Command) (reconcile.Result, error) {
	return r.Run
}
