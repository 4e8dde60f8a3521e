package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// matchConfig is an events.yml with two engines and three rules.
const matchConfig = `cluster:
  a: tcp://127.0.0.1:2375
  b: tcp://127.0.0.1:2376
events:
  - name: db-died
    type: die
    from_container: db-*
    labels: {role: master}
    command: promote
  - name: crash
    type: die
    exit_code: [1]
    command: page
  - name: b-only
    type: die
    from_engine: b
    log: on b
`

// runMatch runs "match -c CONFIG ARG" with stdin and returns stdout and
// the exit status.
func runMatch(t *testing.T, stdin string, args ...string) (string, int) {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "events.yml")
	if err := os.WriteFile(cfg, []byte(matchConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := newMatchCommand()
	var out, errOut strings.Builder
	cmd.SetOut(&out)
	cmd.SetErr(&errOut)
	cmd.SetIn(strings.NewReader(stdin))
	cmd.SetArgs(append([]string{"-c", cfg}, args...))
	err := cmd.Execute()
	var ec exitCode
	switch {
	case err == nil:
		return out.String(), 0
	case errors.As(err, &ec):
		return out.String() + errOut.String(), int(ec)
	}
	t.Fatalf("match: %v", err)
	return "", -1
}

func TestMatchReadsBothDockerEventFormsARecordingLineAndSaysWhichFilterFailed(t *testing.T) {
	for _, tt := range []struct {
		name, event string
		code        int
		want        []string
	}{
		{"API 1.41 form", `{"status":"die","id":"c1","from":"mysql:8","Type":"container","Action":"die","Actor":{"ID":"c1","Attributes":{"name":"db-1","role":"master","exitCode":"137","image":"mysql:8"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}`,
			0, []string{"db-died   yes", "crash     no      exit_code       exit code 137 is not one of 1", `b-only    no      from_engine     engine "a" does not match "b"`}},
		{"API 1.52 form", `{"Type":"container","Action":"die","Actor":{"ID":"c1","Attributes":{"name":"web","exitCode":"1","image":"nginx"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}`,
			0, []string{`db-died   no      from_container   container "web" does not match "db-*"`, "crash     yes"}},
		{"recording line", `{"at":"2026-12-03T12:00:00Z","event":{"id":"e1","engine":"b","type":"container","action":"start","actorId":"c1","time":"2026-12-03T12:00:00Z","container":{"id":"c1","engine":"b","name":"db-1","image":"mysql","labels":{},"state":"running","exitCode":0,"created":"2026-12-03T11:00:00Z"}}}`,
			1, []string{`db-died   no      type            container "start" is not one of the rule's types: die`}},
		{"not JSON", `die`, 2, []string{"not one JSON object"}},
		{"not an event", `{"x":1}`, 2, []string{"not an event"}},
		{"a baseline line", `{"at":"2026-12-03T12:00:00Z","baseline":{"engine":"a","containers":[]}}`, 2, []string{"first list"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			out, code := runMatch(t, tt.event, "-")
			if code != tt.code {
				t.Errorf("exit status %d, want %d; output:\n%s", code, tt.code, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(out, w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestMatchTakesTheEngineFlagAndAFileAndAnswersJSON(t *testing.T) {
	path := filepath.Join(t.TempDir(), "event.json")
	if err := os.WriteFile(path, []byte(`{"Type":"container","Action":"die","Actor":{"ID":"c1","Attributes":{"name":"x","exitCode":"0"}},"timeNano":1}`), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := runMatch(t, "", "--engine", "b", "-o", "json", path)
	if code != 0 || !strings.Contains(out, `"rule": "b-only",`+"\n"+`    "matched": true`) {
		t.Errorf("exit %d, output:\n%s", code, out)
	}
}

func TestMatchExitsTwoForABadConfig(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "events.yml")
	if err := os.WriteFile(cfg, []byte("cluster: {}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := newMatchCommand()
	cmd.SetOut(&strings.Builder{})
	cmd.SetErr(&strings.Builder{})
	cmd.SetArgs([]string{"-c", cfg, "-"})
	var ec exitCode
	if err := cmd.Execute(); !errors.As(err, &ec) || ec != 2 {
		t.Errorf("match with a bad config = %v, want exit status 2", err)
	}
}
