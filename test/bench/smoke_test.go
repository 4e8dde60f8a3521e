package bench

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) {
	RunStampIfAsked()     // the Go stamp, when no C compiler is there
	RunListenersIfAsked() // P7's listeners
	os.Exit(m.Run())
}

// TestEveryBenchmarkRunsOnFakesInProcess runs P1..P7 at tiny sizes, the
// daemon in process and every engine a fake one: it keeps the harness
// working and says nothing about speed.
func TestEveryBenchmarkRunsOnFakesInProcess(t *testing.T) {
	env := Defaults()
	env.Quick()
	env.Work = t.TempDir()
	which := []string{"p1", "p2", "p3", "p4", "p5", "p6", "p7"}
	var out bytes.Buffer
	env.Out = &out
	logOut = testWriter{t}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	rows, err := Run(ctx, env, which)
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	seen := map[string]bool{}
	for _, r := range rows {
		seen[r.ID] = true
		if r.Measured == "" {
			t.Errorf("%s %s: nothing measured", r.ID, r.Metric)
		}
	}
	for _, id := range []string{"P1", "P2", "P3", "P4", "P5", "P6", "P7"} {
		if !seen[id] {
			t.Errorf("no summary row for %s", id)
		}
	}
	for _, title := range []string{"P1 dispatch latency", "P2 ingest", "P3 handler throughput", "P4 scale", "P5 recovery", "P6 hot reload", "Summary"} {
		if !strings.Contains(out.String(), "#### "+title) {
			t.Errorf("no table %q", title)
		}
	}
	if t.Failed() {
		t.Log(out.String())
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(b []byte) (int, error) {
	w.t.Log(strings.TrimSuffix(string(b), "\n"))
	return len(b), nil
}
