package contract_test

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/internal/fakeengine"
	"github.com/samalba/docker-eventsd/internal/testenv"
)

var update = flag.Bool("update", false, "write testdata/ from the real engine (needs EVENTSD_TEST_ENGINES)")

// realEngine returns the URL of a test engine and its image, or "" when there
// is none (outside CI, the fake is then compared with testdata/).
func realEngine(t *testing.T) (string, string) {
	t.Helper()
	if os.Getenv("EVENTSD_TEST_ENGINES") == "" && os.Getenv("CI") != "true" && !*update {
		return "", ""
	}
	engines := testenv.Engines(t)
	names := make([]string, 0, len(engines))
	for n := range engines {
		names = append(names, n)
	}
	sort.Strings(names)
	return engines[names[0]], testenv.Image(t)
}

// fakeModes are the releases the fake is held to the real engine in: the
// default, dockerd 20.10 (API 1.41, the real engine's), and the newest,
// Docker 29 (API 1.52), whose answers differ from the real engine's only as
// moby's API changelog says (see newestShapes).
var fakeModes = []fakeengine.Mode{fakeengine.DefaultMode(), fakeengine.NewestMode()}

// fakeEngine starts one fake engine answering as mode for the test.
func fakeEngine(t *testing.T, mode fakeengine.Mode) string {
	t.Helper()
	s, err := fakeengine.NewServer(fakeengine.Options{Engines: 1, Mode: mode})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s.URL(0)
}

// TestFakeEngineGivesTheInformerWhatARealEngineGives runs the scenario on both
// (the fake in each of fakeModes) and compares the transcripts.
func TestFakeEngineGivesTheInformerWhatARealEngineGives(t *testing.T) {
	realURL, image := realEngine(t)
	golden := filepath.Join("testdata", "transcript.txt")
	var want []string
	if realURL != "" {
		want = runScenario(t, "real", realURL, image)
		if *update {
			writeLines(t, golden, want)
		}
	} else {
		want = readLines(t, golden)
		t.Logf("no test engine: comparing the fake with %s (recorded on a real engine)", golden)
	}
	// The informer must see the same on every release: what API 1.52 left
	// out of events (status, id, from) is nothing it reads.
	for _, mode := range fakeModes {
		t.Run(mode.String(), func(t *testing.T) {
			got := runScenario(t, "fake", fakeEngine(t, mode), "eventsd-busybox:latest")
			if d := diffLines(want, got); d != "" {
				t.Errorf("the informer saw something else on the fake engine (- real, + fake):\n%s", d)
			}
		})
	}
}

// scenarioAttempts bounds the runs of the scenario on one engine when the
// informer loses the engine during a run.
const scenarioAttempts = 3

// runScenario makes the scenario's operations on the engine at url and
// returns what the informer saw, normalized (names without the run's prefix,
// no IDs, no times). A run during which the informer lost the engine (the
// test engines are shared: another package's test may SIGKILL this one, and
// a heartbeat may time out on a loaded machine) compares nothing: the
// scenario runs again, up to scenarioAttempts times.
func runScenario(t *testing.T, kind, url, image string) []string {
	t.Helper()
	for attempt := 1; ; attempt++ {
		lines, err := runScenarioOnce(t, kind, url, image)
		if err == nil {
			return lines
		}
		if !errors.Is(err, errInterrupted) || attempt == scenarioAttempts {
			t.Fatalf("%s (attempt %d): %v", kind, attempt, err)
		}
		t.Logf("%s (attempt %d): %v; running the scenario again", kind, attempt, err)
	}
}

// waitEngine pings the engine until it answers: after an outage, a test that
// killed it may take a while to start it again.
func waitEngine(ctx context.Context, cli *client.Client) error {
	deadline := time.Now().Add(2 * time.Minute)
	for {
		pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		_, err := cli.Ping(pctx, client.PingOptions{NegotiateAPIVersion: true})
		cancel()
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("engine does not answer: %w", err)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func writeLines(t *testing.T, path string, lines []string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./test/contract -update with the test engines up)", err)
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// diffLines returns the lines that differ, or "".
func diffLines(want, got []string) string {
	var b strings.Builder
	for i := 0; i < max(len(want), len(got)); i++ {
		var w, g string
		if i < len(want) {
			w = want[i]
		}
		if i < len(got) {
			g = got[i]
		}
		if w != g {
			fmt.Fprintf(&b, "line %d:\n- %s\n+ %s\n", i+1, w, g)
		}
	}
	return b.String()
}
