package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// binary is the docker-eventsd built once for the package's tests.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "eventsd-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "docker-eventsd")
	build := exec.Command("go", "build", "-race", "-o", binary, "../../cmd/docker-eventsd")
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build docker-eventsd:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// daemon is a running docker-eventsd.
type daemon struct {
	t    *testing.T
	cmd  *exec.Cmd
	mu   sync.Mutex
	logs bytes.Buffer
	done chan struct{}
	// Dir is where handlers write what they saw (also $OUT in their environment).
	Dir string
}

// startDaemon writes the config (with $OUT replaced by the output dir) and runs
// the daemon on it, with extra flags. It waits until every engine is in sync.
func startDaemon(t *testing.T, config string, engines int, flags ...string) *daemon {
	t.Helper()
	out := t.TempDir()
	path := filepath.Join(out, "events.yml")
	if err := os.WriteFile(path, []byte(config), 0o644); err != nil {
		t.Fatal(err)
	}
	return launchDaemon(t, path, out, "", nil, engines, flags...)
}

// launchDaemon runs the daemon on the config file at path, in the working
// directory dir ("" for the test's), with OUT=out and env added to its
// environment, and extra flags. It waits until every engine is in sync.
func launchDaemon(t *testing.T, path, out, dir string, env []string, engines int, flags ...string) *daemon {
	t.Helper()
	d := &daemon{t: t, Dir: out, done: make(chan struct{})}
	args := append([]string{"run", "-c", path, "--log-format", "json", "-v", "1", "--heartbeat", "500ms", "--heartbeat-timeout", "1s", "--max-backoff", "1s",
		// A port of its own, so that daemons never compete for the default.
		"--listen", "127.0.0.1:0"}, flags...)
	d.cmd = exec.Command(binary, args...)
	d.cmd.Dir = dir
	d.cmd.Env = append(append(os.Environ(), "OUT="+out), env...)
	stderr, err := d.cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	d.cmd.Stdout = d.cmd.Stderr
	if err := d.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(d.done)
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			d.mu.Lock()
			d.logs.Write(sc.Bytes())
			d.logs.WriteByte('\n')
			d.mu.Unlock()
		}
		_ = d.cmd.Wait()
	}()
	t.Cleanup(func() {
		d.stop(syscall.SIGKILL)
		// The binary is built with -race: a race it reports fails the test
		// that ran it, as one in the test's own process would.
		if strings.Contains(d.Logs(), "WARNING: DATA RACE") {
			t.Errorf("the daemon reported a data race")
		}
		if t.Failed() {
			t.Logf("daemon log:\n%s", d.Logs())
		}
	})
	d.waitLog(`"msg":"Engine in sync"`, engines, 60*time.Second)
	return d
}

// Logs returns what the daemon logged so far.
func (d *daemon) Logs() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.logs.String()
}

// waitLog waits until the log holds n lines containing s.
func (d *daemon) waitLog(s string, n int, timeout time.Duration) {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for strings.Count(d.Logs(), s) < n {
		if time.Now().After(deadline) {
			d.t.Fatalf("log has %d lines with %s, want %d", strings.Count(d.Logs(), s), s, n)
		}
		select {
		case <-d.done:
			d.t.Fatalf("daemon exited while waiting for %s", s)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// stop signals the daemon and waits for it to exit.
func (d *daemon) stop(sig syscall.Signal) {
	if d.cmd.Process == nil {
		return
	}
	_ = d.cmd.Process.Signal(sig)
	select {
	case <-d.done:
	case <-time.After(60 * time.Second):
		_ = d.cmd.Process.Kill()
		<-d.done
	}
}

// run is one handler run as recorded by the recordCmd handler.
type run struct {
	Env   map[string]string
	Stdin map[string]any
	File  string
	MTime time.Time
}

// recordCmd is a handler command that records its environment and stdin in $OUT.
// The file name is made of values the daemon chose, never of container data.
const recordCmd = `f="$OUT/run-$EVENTSD_RULE-$EVENT_ID-$EVENT_ATTEMPT"; cat > "$f.stdin"; env -0 > "$f.tmp" && mv "$f.tmp" "$f.env"`

// runs returns the recorded runs of a rule, oldest first.
func (d *daemon) runs(rule string) []run {
	d.t.Helper()
	files, _ := filepath.Glob(filepath.Join(d.Dir, "run-"+rule+"-*.env"))
	var out []run
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			d.t.Fatal(err)
		}
		r := run{Env: map[string]string{}, File: f}
		for _, kv := range strings.Split(string(data), "\x00") {
			if k, v, ok := strings.Cut(kv, "="); ok {
				r.Env[k] = v
			}
		}
		if in, err := os.ReadFile(strings.TrimSuffix(f, ".env") + ".stdin"); err == nil && len(in) > 0 {
			if err := json.Unmarshal(in, &r.Stdin); err != nil {
				d.t.Fatalf("stdin of %s is not JSON: %v: %s", f, err, in)
			}
		}
		if st, err := os.Stat(f); err == nil {
			r.MTime = st.ModTime()
		}
		out = append(out, r)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].MTime.Before(out[j].MTime) })
	return out
}

// waitRun waits for a run of rule whose env has all the given values.
func (d *daemon) waitRun(rule string, want map[string]string, timeout time.Duration) run {
	d.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		for _, r := range d.runs(rule) {
			if hasAll(r.Env, want) {
				return r
			}
		}
		if time.Now().After(deadline) {
			var seen []string
			for _, r := range d.runs(rule) {
				seen = append(seen, r.Env["EVENT_TYPE"]+"/"+r.Env["EVENT_ACTION"]+"/"+r.Env["FROM_CONTAINER"])
			}
			d.t.Fatalf("no run of %s with %v within %v; runs: %v", rule, want, timeout, seen)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// countRuns counts the runs of rule whose env has all the given values.
func (d *daemon) countRuns(rule string, want map[string]string) int {
	n := 0
	for _, r := range d.runs(rule) {
		if hasAll(r.Env, want) {
			n++
		}
	}
	return n
}

func hasAll(env, want map[string]string) bool {
	for k, v := range want {
		if env[k] != v {
			return false
		}
	}
	return true
}

// clusterYAML renders the cluster: section for the test engines.
func clusterYAML(engines map[string]string) string {
	names := make([]string, 0, len(engines))
	for n := range engines {
		names = append(names, n)
	}
	sort.Strings(names)
	var b strings.Builder
	b.WriteString("cluster:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %s: %s\n", n, engines[n])
	}
	return b.String()
}

func unique(prefix string) string {
	return fmt.Sprintf("%s-%d", prefix, time.Now().UnixNano()%1e9)
}

// runFor runs a command for d, then stops it with SIGTERM, and returns its output.
func runFor(t *testing.T, d time.Duration, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(d)
	_ = cmd.Process.Signal(syscall.SIGTERM)
	_ = cmd.Wait()
	return out.String()
}
