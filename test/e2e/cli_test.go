package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

func TestValidate(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "events.yml")
	if err := os.WriteFile(bad, []byte("cluster:\n  foo: fd://3\nevents:\n  - type: explode\n    from_contianer: x\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		file     string
		wantCode int
		want     []string
	}{
		{"top-level example", "../../events.yml", 0, []string{"engines"}},
		{"2014 original", "../../config/testdata/original.yml", 0, []string{"2 engines, 1 rule"}},
		{"errors", bad, 2, []string{"events.yml:2:", "events.yml:4:", "events.yml:5:5:", "from_container"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, err := exec.Command(binary, "validate", tt.file).CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Fatalf("exit %d, want %d: %s", code, tt.wantCode, out)
			}
			for _, w := range tt.want {
				if !strings.Contains(string(out), w) {
					t.Errorf("output lacks %q:\n%s", w, out)
				}
			}
		})
	}
}

func TestVersion(t *testing.T) {
	out, err := exec.Command(binary, "version").CombinedOutput()
	if err != nil || !strings.HasPrefix(string(out), "docker-eventsd ") {
		t.Fatalf("version: %v: %s", err, out)
	}
}

// TestOriginalFormAndDefaultConfig runs "docker-eventsd" with no config: one engine
// named local from DOCKER_HOST, every event logged as uncaught, like the original.
func TestDefaultConfigLogsEveryEventAsUncaught(t *testing.T) {
	engines := testenv.Engines(t)
	cmd := exec.Command(binary)
	cmd.Env = append(os.Environ(), "DOCKER_HOST="+engines["a"])
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	time.Sleep(2 * time.Second) // in sync well before; the logs buffer is not safe to poll
	name := unique("uncaught")
	testenv.RunContainer(t, engines["a"], name, testenv.Image(t), "true")
	time.Sleep(3 * time.Second)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	out := logs.String()
	for _, want := range []string{"Uncaught event", name, "local", engines["a"]} {
		if !strings.Contains(out, want) {
			t.Errorf("log lacks %q:\n%s", want, out)
		}
	}
}

// TestOriginalCommandLine runs the 2014 form: docker-eventsd events.yml.
func TestOriginalCommandLine(t *testing.T) {
	engines := testenv.Engines(t)
	path := filepath.Join(t.TempDir(), "events.yml")
	if err := os.WriteFile(path, []byte(clusterYAML(engines)), 0o644); err != nil {
		t.Fatal(err)
	}
	logs := runFor(t, 3*time.Second, binary, path)
	if n := strings.Count(logs, "Engine in sync"); n != len(engines) {
		t.Fatalf("%d engines in sync, want %d:\n%s", n, len(engines), logs)
	}
	if !strings.Contains(logs, "Listening to events...") {
		t.Fatalf("no 'Listening to events...':\n%s", logs)
	}
}
