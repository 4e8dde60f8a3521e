package e2e

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

// deadLetter is what dead list -o json shows of one dead letter.
type deadLetter struct {
	ID        uint64
	Rule      string
	Container string
	Attempts  int
	ExitCode  int
	Permanent bool
	Stderr    string
	Event     struct{ ID string }
}

// cli runs docker-eventsd with args and returns its output and exit status.
func cli(t *testing.T, stdin []byte, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Stdin = bytes.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return string(out), 0
	case errors.As(err, &ee):
		return string(out), ee.ExitCode()
	}
	t.Fatalf("docker-eventsd %s: %v", strings.Join(args, " "), err)
	return "", -1
}

// deadList returns the dead letters of the daemon at addr.
func deadList(t *testing.T, addr string) []deadLetter {
	t.Helper()
	out, code := cli(t, nil, "dead", "list", "--addr", addr, "-o", "json")
	if code != 0 {
		t.Fatalf("dead list: exit %d\n%s", code, out)
	}
	var l []deadLetter
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("dead list -o json: %v\n%s", err, out)
	}
	return l
}

// waitDead waits until the daemon at addr has n dead letters.
func waitDead(t *testing.T, addr string, n int) []deadLetter {
	t.Helper()
	var l []deadLetter
	waitFor(t, 30*time.Second, fmt.Sprintf("%d dead letters", n), func() (bool, string) {
		l = deadList(t, addr)
		return len(l) == n, fmt.Sprintf("%+v", l)
	})
	return l
}

func TestAHandlerThatAlwaysFailsEndsInDeadListIsRetriedDroppedAndSurvivesARestart(t *testing.T) {
	engines := testenv.Engines(t)
	name := unique("dead")
	cfg := clusterYAML(engines) + fmt.Sprintf(`
events:
  - name: doomed
    type: start
    from_engine: a
    from_container: %s
    retry: {max_attempts: 2, backoff: 100ms}
    command: '%s; echo "no way" >&2; exit 1'
    on_failure: 'printf "%%s|%%s|%%s" "$EVENTSD_FAILED_EXIT_CODE" "$EVENTSD_FAILED_OUTPUT" "$EVENT_ID" >> "$OUT/paged"'
`, name, recordCmd)
	out := t.TempDir()
	path := filepath.Join(out, "events.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	state := t.TempDir()
	addr := "unix://" + filepath.Join(out, "eventsd.sock")
	d := launchDaemon(t, path, out, "", nil, len(engines), "--state-dir", state, "--listen", addr)
	testenv.RunContainer(t, engines["a"], name, testenv.Image(t), "sleep", "600")

	l := waitDead(t, addr, 1)[0]
	evID := d.runs("doomed")[0].Env["EVENT_ID"]
	if l.Rule != "doomed" || l.Container != name || l.Attempts != 2 || l.ExitCode != 1 || l.Stderr != "no way\n" || l.Event.ID != evID {
		t.Errorf("dead letter = %+v, want doomed's, 2 attempts, exit 1, its stderr, event %s", l, evID)
	}
	waitFor(t, 10*time.Second, "on_failure", func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(out, "paged"))
		return len(b) > 0, string(b)
	})
	time.Sleep(300 * time.Millisecond) // a second on_failure would show by now
	if b, _ := os.ReadFile(filepath.Join(out, "paged")); string(b) != "1|no way\n|"+evID {
		t.Errorf("on_failure wrote %q, want it once: exit code 1, the output, the event ID", b)
	}
	table, code := cli(t, nil, "dead", "list", "--addr", addr)
	if code != 0 || !strings.Contains(table, "doomed") || !strings.Contains(table, name) || !strings.Contains(table, "no way") {
		t.Errorf("dead list: exit %d\n%s", code, table)
	}
	if n := d.countRuns("doomed", nil); n != 2 {
		t.Errorf("%d runs, want 2", n)
	}

	// A restart with the same --state-dir keeps it.
	d.stop(syscall.SIGTERM)
	d = launchDaemon(t, path, out, "", nil, len(engines), "--state-dir", state, "--listen", addr)
	again := deadList(t, addr)
	if len(again) != 1 || again[0].ID != l.ID || again[0].Event.ID != evID {
		t.Fatalf("dead letters after a restart = %+v, want %d of event %s", again, l.ID, evID)
	}

	// dead retry runs it again: the same event, attempts from 1.
	if msg, code := cli(t, nil, "dead", "retry", strconv.FormatUint(l.ID, 10), "--addr", addr); code != 0 {
		t.Fatalf("dead retry: exit %d\n%s", code, msg)
	}
	// It fails twice again and pages again (the run files of attempts 1 and
	// 2 are written anew: same event, same attempts).
	waitFor(t, 30*time.Second, "the retried delivery given up", func() (bool, string) {
		b, _ := os.ReadFile(filepath.Join(out, "paged"))
		return strings.Count(string(b), evID) == 2 && strings.Count(d.Logs(), `"msg":"Running handler"`) == 2, string(b)
	})
	retried := waitDead(t, addr, 1)[0]
	if retried.ID == l.ID || retried.Event.ID != evID || retried.Attempts != 2 {
		t.Errorf("after the retry: %+v, want a new dead letter of event %s after 2 attempts", retried, evID)
	}

	if msg, code := cli(t, nil, "dead", "drop", "999999", "--addr", addr); code == 0 || !strings.Contains(msg, "no such dead letter") {
		t.Errorf("dead drop of an unknown ID: exit %d %s", code, msg)
	}
	if msg, code := cli(t, nil, "dead", "drop", strconv.FormatUint(retried.ID, 10), "--addr", addr); code != 0 {
		t.Fatalf("dead drop: exit %d\n%s", code, msg)
	}
	if l := deadList(t, addr); len(l) != 0 {
		t.Errorf("dead letters after the drop: %+v", l)
	}
	d.stop(syscall.SIGTERM)
	d = launchDaemon(t, path, out, "", nil, len(engines), "--state-dir", state, "--listen", addr)
	if l := deadList(t, addr); len(l) != 0 {
		t.Errorf("a dropped dead letter came back after a restart: %+v", l)
	}
}

func TestAPermanentExitCodeIsNotRetried(t *testing.T) {
	engines := testenv.Engines(t)
	name := unique("permanent")
	cfg := clusterYAML(engines) + fmt.Sprintf(`
events:
  - name: permanent
    type: start
    from_engine: a
    from_container: %s
    retry: {max_attempts: 5, backoff: 100ms, permanent_exit_codes: [2]}
    command: '%s; exit 2'
    on_failure: 'echo "$EVENTSD_FAILED_EXIT_CODE" >> "$OUT/paged"'
`, name, recordCmd)
	out := t.TempDir()
	path := filepath.Join(out, "events.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := "unix://" + filepath.Join(out, "eventsd.sock")
	d := launchDaemon(t, path, out, "", nil, len(engines), "--listen", addr)
	testenv.RunContainer(t, engines["a"], name, testenv.Image(t), "sleep", "600")
	l := waitDead(t, addr, 1)[0]
	if !l.Permanent || l.Attempts != 1 || l.ExitCode != 2 {
		t.Errorf("dead letter = %+v, want permanent after 1 attempt with exit 2", l)
	}
	time.Sleep(500 * time.Millisecond) // a retry after 100 ms would show by now
	if n := d.countRuns("permanent", nil); n != 1 {
		t.Errorf("%d runs, want 1: exit 2 is permanent", n)
	}
	if b, _ := os.ReadFile(filepath.Join(out, "paged")); string(b) != "2\n" {
		t.Errorf("on_failure wrote %q, want 2 once", b)
	}
}

func TestDryRunRunsNothingAndLogsWouldRunWithTheEnvironment(t *testing.T) {
	engines := testenv.Engines(t)
	name := unique("dry")
	cfg := clusterYAML(engines) + fmt.Sprintf(`
events:
  - name: dry
    type: start
    from_engine: a
    from_container: %s
    command: '%s'
`, name, recordCmd)
	d := startDaemon(t, cfg, len(engines), "--dry-run")
	id := testenv.RunContainer(t, engines["a"], name, testenv.Image(t), "sleep", "600")
	d.waitLog(`"msg":"Would run"`, 1, 30*time.Second)
	d.waitLog(`"msg":"Handler succeeded"`, 1, 10*time.Second)
	logs := d.Logs()
	for _, want := range []string{"FROM_CONTAINER=" + name, "CONTAINER_ID=" + id, "EVENTSD_RULE=dry", "OUT=" + d.Dir} {
		if !strings.Contains(logs, want) {
			t.Errorf("the Would run line lacks %s", want)
		}
	}
	time.Sleep(300 * time.Millisecond)
	if n := d.countRuns("dry", nil); n != 0 {
		t.Errorf("%d handler runs in a dry run, want 0", n)
	}
}

// opsConfig is the config of the record, replay and match test: an event
// rule on the dies of the test's containers with exit code 3, a rule on
// engine b's outages, and a state rule on the test's running containers.
const opsConfig = `
events:
  - name: crashed
    type: die
    from_container: %[1]s-*
    exit_code: 3
    command: '%[2]s'
  - name: b-lost
    type: engine_down
    from_engine: b
    log: engine b lost
state:
  - name: running
    from_container: %[1]s-*
    status: running
    command: 'echo "$STATE_COUNT" >> "$OUT/state"'
`

func TestRecordARealEngineThenReplayAndMatchTheRecording(t *testing.T) {
	engines := testenv.Engines(t)
	prefix := unique("rec")
	dir := t.TempDir()
	t.Setenv("OUT", dir) // for the handlers of replay --run
	cfgPath := filepath.Join(dir, "events.yml")
	if err := os.WriteFile(cfgPath, []byte(clusterYAML(engines)+fmt.Sprintf(opsConfig, prefix, recordCmd)), 0o644); err != nil {
		t.Fatal(err)
	}
	before := testenv.RunContainer(t, engines["a"], prefix+"-before", testenv.Image(t), "sleep", "600")
	file := filepath.Join(dir, "rec.jsonl")
	rec := exec.Command(binary, "record", "-c", cfgPath, "-o", file, "--log-format", "json", "--heartbeat", "500ms", "--heartbeat-timeout", "1s", "--max-backoff", "1s")
	rec.Env = append(os.Environ(), "OUT="+dir)
	recLog := &lockedBuffer{}
	rec.Stdout, rec.Stderr = recLog, recLog
	if err := rec.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = rec.Process.Kill(); _ = rec.Wait() }()
	lines := func() []string {
		b, _ := os.ReadFile(file)
		return strings.Split(strings.TrimSpace(string(b)), "\n")
	}
	waitFor(t, 30*time.Second, "the baselines", func() (bool, string) {
		return strings.Count(strings.Join(lines(), "\n"), `"baseline"`) == 2, recLog.String()
	})
	crash := testenv.RunContainer(t, engines["a"], prefix+"-crash", testenv.Image(t), "sh", "-c", "sleep 1; exit 3")
	testenv.RunContainer(t, engines["a"], prefix+"-ok", testenv.Image(t), "true")
	waitFor(t, 30*time.Second, "the two dies", func() (bool, string) {
		return strings.Count(strings.Join(lines(), "\n"), `"action":"die"`) >= 2, strings.Join(lines(), "\n")
	})
	testenv.KillEngine(t, "b")
	waitFor(t, 30*time.Second, "engine_down", func() (bool, string) {
		return strings.Contains(strings.Join(lines(), "\n"), `"action":"engine_down"`), recLog.String()
	})
	testenv.StartEngine(t, "b")
	waitFor(t, 60*time.Second, "engine_up", func() (bool, string) {
		return strings.Contains(strings.Join(lines(), "\n"), `"action":"engine_up"`), recLog.String()
	})
	_ = rec.Process.Signal(syscall.SIGTERM)
	if err := rec.Wait(); err != nil {
		t.Fatalf("record: %v\n%s", err, recLog.String())
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
		t.Errorf("record ran a handler")
	}

	// Replay: the rules that fire, in order, nothing run.
	out, code := cli(t, nil, "replay", "-c", cfgPath, file)
	if code != 0 {
		t.Fatalf("replay: exit %d\n%s", code, out)
	}
	var fired []string
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Split(l, "\t")
		if len(f) != 5 {
			t.Fatalf("replay line %q: want time, engine, container, event, rule", l)
		}
		if _, err := time.Parse(time.RFC3339Nano, f[0]); err != nil {
			t.Errorf("replay line %q: %v", l, err)
		}
		fired = append(fired, f[4]+"/"+f[1]+"/"+f[2]+"/"+f[3])
	}
	got := strings.Join(fired, " ")
	crashed := "crashed/a/" + prefix + "-crash/die"
	if strings.Count(got, crashed) != 1 || strings.Contains(got, "crashed/a/"+prefix+"-ok") || strings.Count(got, "b-lost/b/-/engine_down") != 1 {
		t.Errorf("replay fired %q, want %s once, b-lost once, nothing for -ok (exit 0)", got, crashed)
	}
	// The state rule starts with the container running before the
	// recording, grows with -crash and -ok, shrinks back when they die.
	if !strings.HasPrefix(fired[0], "running/") || !strings.HasSuffix(fired[0], "/(1 containers)/state") ||
		!strings.Contains(got, "running/a/(2 containers)/state after start") {
		t.Errorf("replay fired %q, want the state rule from 1 container (the one before), then 2", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "state")); err == nil {
		t.Errorf("replay without --run ran a handler")
	}

	// replay --run runs them.
	if out, code := cli(t, nil, "replay", "-c", cfgPath, "--run", file); code != 0 {
		t.Fatalf("replay --run: exit %d\n%s", code, out)
	}
	runs, _ := filepath.Glob(filepath.Join(dir, "run-crashed-*.env"))
	if b, _ := os.ReadFile(filepath.Join(dir, "state")); len(runs) != 1 || len(b) == 0 {
		t.Errorf("replay --run: %d runs of crashed, state rule wrote %q; want 1 and something", len(runs), b)
	}

	// match: a line of the recording, and the engine's own JSON of the die.
	var dieLine string
	sc := bufio.NewScanner(strings.NewReader(strings.Join(lines(), "\n")))
	for sc.Scan() {
		if strings.Contains(sc.Text(), `"action":"die"`) && strings.Contains(sc.Text(), crash) {
			dieLine = sc.Text()
		}
	}
	if out, code := cli(t, []byte(dieLine), "match", "-c", cfgPath, "-"); code != 0 || !strings.Contains(out, "crashed   yes") {
		t.Errorf("match of the recorded die: exit %d\n%s", code, out)
	}
	raw := testenv.Docker(t, engines["a"], "events", "--since", "10m", "--until", "0s", "--format", "{{json .}}",
		"--filter", "container="+crash, "--filter", "event=die")
	if out, code := cli(t, []byte(raw), "match", "-c", cfgPath, "-"); code != 0 || !strings.Contains(out, "crashed   yes") {
		t.Errorf("match of the engine's JSON of the die (%s): exit %d\n%s", raw, code, out)
	}
	startRaw := testenv.Docker(t, engines["a"], "events", "--since", "10m", "--until", "0s", "--format", "{{json .}}",
		"--filter", "container="+before, "--filter", "event=start")
	if out, code := cli(t, []byte(startRaw), "match", "-c", cfgPath, "-"); code != 1 || !strings.Contains(out, "type") {
		t.Errorf("match of a start no rule wants: exit %d, want 1\n%s", code, out)
	}
	if out, code := cli(t, []byte("not json"), "match", "-c", cfgPath, "-"); code != 2 {
		t.Errorf("match of bad input: exit %d, want 2\n%s", code, out)
	}
}

// lockedBuffer is a bytes.Buffer that a process writes while the test reads.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
