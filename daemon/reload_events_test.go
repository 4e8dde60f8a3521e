package daemon

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// reloadUnderEvents starts n containers, alternately on engines a and b,
// while it reloads configs in turn, then waits until each start ran its
// handler (once at least), and returns how many times each real (not
// synthesized) and synthesized start ran, by "engine id", and the number of
// reloads.
func (r *reloadFixture) reloadUnderEvents(n int, configs []string) (real, synthetic map[string]int, reloads int) {
	r.t.Helper()
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range n {
			r.run([]string{"a", "b"}[i%2], fmt.Sprintf("c%d", i))
			time.Sleep(time.Millisecond)
		}
	}()
	for running := true; running; reloads++ {
		select {
		case <-done:
			running = false
		default:
		}
		r.reload(configs[reloads%len(configs)])
	}
	r.reload(configs[0])
	if reloads < 4 {
		r.t.Fatalf("only %d reloads while the events came: the test proves nothing", reloads)
	}
	read := func() {
		real, synthetic = map[string]int{}, map[string]int{}
		for _, l := range r.eventLines() {
			f := strings.Fields(l) // version engine id [synthetic]
			if len(f) > 3 && f[3] == "1" {
				synthetic[f[1]+" "+f[2]]++
			} else {
				real[f[1]+" "+f[2]]++
			}
		}
	}
	deadline := time.Now().Add(waitTimeout)
	for i := 0; i < n; {
		read()
		k := []string{"a", "b"}[i%2] + " " + fmt.Sprintf("c%d", i)
		if real[k]+synthetic[k] > 0 {
			i++
			continue
		}
		if time.Now().After(deadline) {
			r.t.Fatalf("the start of %s never ran its handler (after %d reloads)", k, reloads)
		}
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(100 * time.Millisecond) // a late second run would show now
	read()
	return real, synthetic, reloads
}

// syntheticRules is reloadRules whose event rule also writes
// $EVENT_SYNTHETIC.
func syntheticRules(version, extra string) string {
	return strings.Replace(reloadRules(version, extra), "$CONTAINER_ID\"", "$CONTAINER_ID $EVENT_SYNTHETIC\"", 1)
}

func TestEventsArrivingDuringReloadsAreDeliveredExactlyOnceUnderTheOldOrTheNewRules(t *testing.T) {
	t.Parallel()
	// The command changes at every reload, a rule comes and goes, an
	// engine too; the engines' event filters stay.
	configs := []string{
		reloadCluster("a", "b") + syntheticRules("v1", ""),
		reloadCluster("a", "b", "z") + syntheticRules("v2", `  - name: also
    type: start
    from_engine: z
    command: "true"
`),
	}
	r := newReloadFixture(t, configs[0], "a", "b")
	r.fake("z")
	const n = 150
	real, synthetic, reloads := r.reloadUnderEvents(n, configs)
	if len(real) != n || len(synthetic) != 0 {
		t.Errorf("%d starts ran, %d synthesized, want %d real ones", len(real), len(synthetic), n)
	}
	for k, c := range real {
		if c != 1 {
			t.Errorf("the start of %s ran %d times, want once", k, c)
		}
	}
	t.Logf("%d events over %d reloads", n, reloads)
}

func TestEventsArrivingWhileReloadsRestartTheEnginesAreNeverLostNorReplayedTwice(t *testing.T) {
	t.Parallel()
	// Every other reload changes the engines' event filters (a rule of
	// another action): the engines restart from their replay point.
	configs := []string{
		reloadCluster("a", "b") + syntheticRules("v1", ""),
		reloadCluster("a", "b") + syntheticRules("v2", `  - name: paused
    type: pause
    command: "true"
`),
	}
	r := newReloadFixture(t, configs[0], "a", "b")
	const n = 150
	real, synthetic, reloads := r.reloadUnderEvents(n, configs)
	for k, c := range real {
		if c != 1 {
			t.Errorf("the start of %s was handed on %d times from the engine's stream, want once (replayed twice)", k, c)
		}
	}
	if len(real)+len(synthetic) < n {
		t.Errorf("%d starts ran, want %d", len(real)+len(synthetic), n)
	}
	// A start the new informer's first list shows, and whose event reaches
	// it after its list settled (a loaded machine), is synthesized, then
	// handed on again from the replay: at least once, as after any
	// reconnect (docs/CONFIG.md, Reload).
	t.Logf("%d events over %d reloads that restarted the engines: %d synthesized", n, reloads, len(synthetic))
}

func TestReloadChangingTheEventFiltersRestartsEnginesFromTheirReplayPoint(t *testing.T) {
	t.Parallel()
	r := newReloadFixture(t, reloadCluster("a")+reloadRules("v1", ""), "a")
	r.startAndWait("v1", "a", "c1")
	r.waitSet("a/c1")
	old := r.d.Informer("a")
	was, _ := old.Checkpoint()

	got := r.reload(reloadCluster("a") + reloadRules("v1", `  - name: died
    type: die
    command: echo "died $CONTAINER_ID" >> "$OUT/events"
`))
	if !got.Restarted || !slices.Equal(got.Engines.Replaced, []string{"a"}) {
		t.Fatalf("reload adding a die rule = %+v, want the filters changed and a restarted", got)
	}
	if r.d.Informer("a") == old {
		t.Fatal("the engine kept its informer, with its old filter")
	}
	r.waitSynced("a")
	if since := r.fake("a").LastSince(); since == "" {
		t.Error("the restarted engine streamed without since: not from its replay point")
	}
	now, _ := r.d.Informer("a").Checkpoint()
	if was == nil || now == nil || now.LastSeen < was.LastSeen || now.LastSeen == 0 {
		t.Errorf("checkpoint before %+v, after %+v: want the replay point carried over", was, now)
	}
	r.fake("a").Die("c1", 1)
	r.waitEvent("died c1")
	r.startAndWait("v1", "a", "c2")
	if n := count(r.eventLines(), "v1 a c1"); n != 1 {
		t.Errorf("the start of c1, before the restart, ran %d times, want 1", n)
	}
}

func TestReloadAddingARuleOfAnotherKindRestartsEveryEngineAndAnUnchangedFilterRestartsNone(t *testing.T) {
	t.Parallel()
	base := reloadCluster("a", "b") + reloadRules("v1", "")
	r := newReloadFixture(t, base, "a", "b")
	tests := []struct {
		name      string
		src       string
		restarted bool
	}{
		{"an image rule: images are streamed too", reloadCluster("a", "b") + reloadRules("v1", `  - name: pulled
    object: image
    type: pull
    command: "true"
`), true},
		{"the same kinds, another command", reloadCluster("a", "b") + reloadRules("v2", `  - name: pulled
    object: image
    type: pull
    command: "false"
`), false},
		{"the image rule removed", reloadCluster("a", "b") + reloadRules("v2", ""), true},
	}
	for _, tt := range tests {
		streams := r.calls("a")[1] + r.calls("b")[1]
		got := r.reload(tt.src)
		if got.Restarted != tt.restarted {
			t.Errorf("%s: restarted = %v, want %v", tt.name, got.Restarted, tt.restarted)
		}
		r.waitSynced("a")
		r.waitSynced("b")
		want := streams
		if tt.restarted {
			want += 2
		}
		if now := r.calls("a")[1] + r.calls("b")[1]; now != want {
			t.Errorf("%s: the engines served %d event streams, want %d", tt.name, now-streams, want-streams)
		}
	}
}

// stateRuns returns the lines the state rule "counted" wrote.
func (r *reloadFixture) stateRuns() []string {
	b, _ := os.ReadFile(filepath.Join(r.out, "state-runs"))
	return slices.DeleteFunc(strings.Split(string(b), "\n"), func(s string) bool { return s == "" })
}

// waitStateRuns waits until the state rule "counted" ran n times.
func (r *reloadFixture) waitStateRuns(n int) {
	r.t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for len(r.stateRuns()) < n {
		if time.Now().After(deadline) {
			r.t.Fatalf("the state rule ran %d times after %v, want %d: %q", len(r.stateRuns()), waitTimeout, n, r.stateRuns())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestReloadKeepsAnUnchangedStateRuleFromFiringAgainAndRestartsAChangedOne(t *testing.T) {
	t.Parallel()
	counted := func(version string) string {
		return fmt.Sprintf(`  - name: counted
    status: [running]
    debounce: 10ms
    max_delay: 50ms
    command: echo "%s $(wc -l < "$EVENTSD_STATE_FILE")" >> "$OUT/state-runs"
`, version)
	}
	src := func(event, state string) string {
		return reloadCluster("a") + reloadRules(event, "") + counted(state)
	}
	r := newReloadFixture(t, src("v1", "s1"), "a")
	r.startAndWait("v1", "a", "c1")
	r.waitSet("a/c1")
	r.waitStateRuns(1)
	before := len(r.stateRuns())

	// The event rule changes, the state rule does not: it does not run again
	// for the set it last ran for.
	got := r.reload(src("v2", "s1"))
	if !slices.Equal(got.StateRules.Unchanged, []string{"running", "counted"}) {
		t.Errorf("state rules changes = %+v, want both unchanged", got.StateRules)
	}
	time.Sleep(300 * time.Millisecond) // 6 times its max_delay
	if n := len(r.stateRuns()); n != before {
		t.Errorf("the unchanged state rule ran %d more times after the reload, want 0: %q", n-before, r.stateRuns())
	}

	// Changed: it starts anew and runs once for the set it finds.
	got = r.reload(src("v2", "s2"))
	if !slices.Equal(got.StateRules.Changed, []string{"counted"}) {
		t.Errorf("state rules changes = %+v, want counted changed", got.StateRules)
	}
	r.waitStateRuns(before + 1)
	time.Sleep(300 * time.Millisecond)
	runs := r.stateRuns()
	if len(runs) != before+1 || !strings.HasPrefix(runs[len(runs)-1], "s2 ") {
		t.Errorf("after the change the state rule ran %q, want one run of s2", runs[before:])
	}

	// Removed: it runs no more.
	got = r.reload(reloadCluster("a") + reloadRules("v2", ""))
	if !slices.Equal(got.StateRules.Removed, []string{"counted"}) {
		t.Errorf("state rules changes = %+v, want counted removed", got.StateRules)
	}
	r.startAndWait("v2", "a", "c2")
	r.waitSet("a/c1", "a/c2")
	time.Sleep(300 * time.Millisecond)
	if n := len(r.stateRuns()); n != before+1 {
		t.Errorf("the removed state rule ran %d more times", n-before-1)
	}
}
