package bench

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestMonitorBenchmarkRunsAtTinySizes runs P7 at tiny sizes: it keeps the
// harness working (listeners' process, windows, table) and says nothing
// about speed.
func TestMonitorBenchmarkRunsAtTinySizes(t *testing.T) {
	env := Defaults()
	env.Quick()
	env.Work = t.TempDir()
	var out bytes.Buffer
	env.Out = &out
	logOut = testWriter{t}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	rows, err := Run(ctx, env, []string{"p7"})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if len(rows) != 3 || !strings.Contains(out.String(), "#### P7 monitors") {
		t.Fatalf("rows %+v\n%s", rows, out.String())
	}
	// Every check at tiny sizes passes: no target went down.
	if !strings.Contains(out.String(), "| 0 |") {
		t.Errorf("down events at tiny sizes:\n%s", out.String())
	}
}
