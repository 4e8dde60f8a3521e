package main

import (
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/controller"
	"github.com/samalba/docker-eventsd/daemon"
)

func TestPrintStatusShowsEnginesRulesAndTotalsAsTables(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	st := &daemon.Status{
		Started: now.Add(-time.Hour),
		Ready:   false,
		Waiting: []string{"b"},
		Engines: []daemon.EngineStatus{
			{Name: "a", URL: "tcp://10.0.0.1:2376", State: daemon.EngineUp, Containers: 12, LastEvent: now.Add(-90 * time.Second), Reconnects: 2, APIVersion: "1.47"},
			{Name: "b", URL: "ssh://admin@db2", State: daemon.EngineDown},
		},
		Rules: []controller.RuleStatus{
			{Name: "promote", Matched: 3, Runs: 5, Failed: 2, LastRun: now.Add(-time.Minute), LastError: "exit status 3\nsecond line"},
			{Name: "log-all", Matched: 100},
		},
		QueueDepth: 1, Pending: 4, DeadLetters: 0,
		Reload: daemon.ReloadStatus{Success: true, At: now.Add(-time.Hour)},
	}
	var out strings.Builder
	if err := printStatus(&out, st, now); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"ENGINE   URL                   STATE   CONTAINERS   LAST EVENT   RECONNECTS   API",
		"a        tcp://10.0.0.1:2376   up      12           1m30s ago    2            1.47",
		"b        ssh://admin@db2       down    0            -            0            -",
		"promote   3         5      2        0         1m0s ago   exit status 3",
		"log-all   100       0      0        0         -          -",
		"Queue depth:          1",
		"Ready:                no, waiting for b",
		"Config:               ok, loaded 1h0m0s ago",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("status lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "second line") {
		t.Errorf("a last error is shown on one line:\n%s", got)
	}
}
