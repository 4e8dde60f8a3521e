package main

import (
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/daemon"
	"github.com/samalba/docker-eventsd/informer"
)

func TestPrintDeadShowsOneLineperLetterWithTheLastOutputLine(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	letters := []daemon.DeadLetter{
		{ID: 7, Rule: "promote", Engine: "a", Container: "db", Event: &informer.Event{ID: "e1", Action: "die"}, Attempts: 5,
			ExitCode: 1, Stderr: "first\nlast line\n", At: now.Add(-2 * time.Minute)},
		{ID: 9, Rule: "page", Engine: "b", Event: &informer.Event{ID: "e2", Action: "engine_down"}, Attempts: 1,
			ExitCode: 2, Permanent: true, Stdout: "only stdout", At: now.Add(-time.Second)},
	}
	var out strings.Builder
	if err := printDead(&out, letters, now); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"ID   RULE      ENGINE   CONTAINER   EVENT         ATTEMPTS   EXIT            GIVEN UP   LAST OUTPUT",
		"7    promote   a        db          die           5          1               2m0s ago   last line",
		"9    page      b        -           engine_down   1          2 (permanent)   1s ago     only stdout",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("dead list lacks %q:\n%s", want, got)
		}
	}
	out.Reset()
	if err := printDead(&out, nil, now); err != nil || !strings.Contains(out.String(), "(no dead letters)") {
		t.Errorf("empty list = %q, %v", out.String(), err)
	}
}

func TestDeadIDRefusesWhatIsNotAPositiveNumber(t *testing.T) {
	for _, tt := range []struct {
		args []string
		ok   bool
	}{{[]string{"3"}, true}, {[]string{"0"}, false}, {[]string{"x"}, false}, {nil, false}, {[]string{"-1"}, false}} {
		if _, err := deadID(tt.args); (err == nil) != tt.ok {
			t.Errorf("deadID(%q) = %v, want ok %v", tt.args, err, tt.ok)
		}
	}
}
