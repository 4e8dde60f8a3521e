package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/daemon"
	"github.com/samalba/docker-eventsd/informer"
)

// replayConfig has an event rule on die and a state rule on running
// masters, which fires when there is none.
const replayConfig = `cluster:
  a: tcp://127.0.0.1:2375
events:
  - name: on-die
    type: die
    command: echo "$EVENT_ID $FROM_CONTAINER" >> "$OUT"
  - name: on-start-web
    type: start
    from_container: web-*
    log: web started
state:
  - name: no-master
    labels: {role: master}
    status: running
    trigger: empty
    command: echo "no master" >> "$OUT"
`

// recording returns a recording: a baseline with a running master db, then
// web-1 starting, db dying.
func recording(t *testing.T) string {
	t.Helper()
	t0 := time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC)
	db := &informer.Container{ID: "c-db", Engine: "a", Name: "db", Image: "mysql", Labels: map[string]string{"role": "master"}, State: informer.StateRunning, Created: t0}
	web := &informer.Container{ID: "c-web", Engine: "a", Name: "web-1", Image: "nginx", Labels: map[string]string{}, State: informer.StateRunning, Created: t0}
	dead := *db
	dead.State, dead.ExitCode = informer.StateExited, 137
	lines := []daemon.RecordLine{
		{At: t0, Baseline: &daemon.RecordBaseline{Engine: "a", Containers: []*informer.Container{db}}},
		{At: t0.Add(time.Second), Event: &informer.Event{ID: "e1", Engine: "a", Type: "container", Action: "start", ActorID: "c-web", Time: t0.Add(time.Second), Container: web}},
		{At: t0.Add(2 * time.Second), Event: &informer.Event{ID: "e2", Engine: "a", Type: "container", Action: "die", ActorID: "c-db", Time: t0.Add(2 * time.Second), Container: &dead}},
	}
	var b strings.Builder
	for _, l := range lines {
		data, err := json.Marshal(l)
		if err != nil {
			t.Fatal(err)
		}
		b.Write(data)
		b.WriteByte('\n')
	}
	return b.String()
}

func writeFiles(t *testing.T, rec string) (cfg, file string) {
	t.Helper()
	dir := t.TempDir()
	cfg, file = filepath.Join(dir, "events.yml"), filepath.Join(dir, "rec.jsonl")
	if err := os.WriteFile(cfg, []byte(replayConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte(rec), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg, file
}

func TestReplayPrintsEachRuleThatFiresInOrderAndRunsNothing(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ran")
	t.Setenv("OUT", out)
	cfg, file := writeFiles(t, recording(t))
	var stdout strings.Builder
	if err := runReplay(context.Background(), nil, &stdout, file, &replayFlags{config: cfg, logFormat: "console"}); err != nil {
		t.Fatal(err)
	}
	want := "2026-12-03T12:00:01Z\ta\tweb-1\tstart\ton-start-web\n" +
		"2026-12-03T12:00:02Z\ta\tdb\tdie\ton-die\n" +
		"2026-12-03T12:00:02Z\ta\t(0 containers)\tstate after die\tno-master\n"
	if stdout.String() != want {
		t.Errorf("replay printed:\n%s\nwant:\n%s", stdout.String(), want)
	}
	if _, err := os.Stat(out); !os.IsNotExist(err) {
		t.Errorf("a handler ran without --run (%v)", err)
	}
}

func TestReplayRunRunsTheHandlersForReal(t *testing.T) {
	out := filepath.Join(t.TempDir(), "ran")
	t.Setenv("OUT", out)
	cfg, file := writeFiles(t, recording(t))
	var stdout strings.Builder
	start := time.Now()
	err := runReplay(context.Background(), nil, &stdout, file, &replayFlags{config: cfg, logFormat: "console", run: true, speed: 4, shutdownTimeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took < 400*time.Millisecond {
		t.Errorf("replay at speed 4 of 2 s took %s, want about 500 ms", took)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		data, _ := os.ReadFile(out)
		got := string(data)
		if strings.Contains(got, "e2 db\n") && strings.Contains(got, "no master\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("handlers wrote %q, want the die handler (e2 db) and the state rule (no master)", got)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestReplayRefusesALineThatIsNotARecording(t *testing.T) {
	cfg, file := writeFiles(t, recording(t)+"{\"at\":\"2026-12-03T12:00:03Z\"}\n")
	err := runReplay(context.Background(), nil, &strings.Builder{}, file, &replayFlags{config: cfg, logFormat: "console"})
	if err == nil || !strings.Contains(err.Error(), "recording line 4") {
		t.Errorf("replay = %v, want an error naming line 4", err)
	}
}
