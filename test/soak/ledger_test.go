package soak

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"
)

var t0 = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)

func at(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }

func ts(s int) string { return at(s).Format(time.RFC3339Nano) }

func trans(spec string) []transition {
	var out []transition
	for i, k := range strings.Fields(spec) {
		out = append(out, transition{Kind: k, Lo: at(10 * (i + 1)), Hi: at(10 * (i + 1))})
	}
	return out
}

func dels(spec string) []delivery {
	var out []delivery
	for i, k := range strings.Fields(spec) {
		synth := strings.HasSuffix(k, "*")
		out = append(out, delivery{EventID: string(rune('a' + i)), Kind: strings.TrimSuffix(k, "*"), Synthetic: synth})
	}
	return out
}

func TestAlign(t *testing.T) {
	never := func(transition) bool { return false }
	tests := []struct {
		name             string
		want, got        string
		exempt           func(transition) bool
		matched, synth   int
		unmatched, extra []int
	}{
		{name: "all delivered", want: "start die destroy", got: "start die destroy", matched: 3},
		{name: "synthesized die", want: "start die destroy", got: "start die* destroy", matched: 3, synth: 1},
		{name: "lost die", want: "start die destroy", got: "start destroy", matched: 2, unmatched: []int{1}},
		{name: "nothing delivered", want: "start die", got: "", unmatched: []int{0, 1}},
		{name: "a second die", want: "start die destroy", got: "start die die* destroy", matched: 3, extra: []int{2}},
		{name: "out of order", want: "start die", got: "die start", matched: 1, unmatched: []int{0}, extra: []int{1}},
		{name: "unknown deliveries", want: "", got: "start", extra: []int{0}},
		{
			name: "a lost pair inside a window is left unmatched there", want: "start die start die", got: "start die",
			exempt: func(t transition) bool { return !t.Lo.Before(at(30)) }, matched: 2, unmatched: []int{2, 3},
		},
		{
			name: "either way round", want: "start die start die", got: "start die",
			exempt: func(t transition) bool { return t.Lo.Before(at(30)) }, matched: 2, unmatched: []int{0, 1},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ex := tt.exempt
			if ex == nil {
				ex = never
			}
			got := align(trans(tt.want), dels(tt.got), ex)
			want := alignment{matched: tt.matched, synthesized: tt.synth, unmatched: tt.unmatched, extra: tt.extra}
			got.pairs = nil
			if !reflect.DeepEqual(got, want) {
				t.Errorf("align(%q, %q) = %+v, want %+v", tt.want, tt.got, got, want)
			}
		})
	}
}

func TestClassifyUnmatched(t *testing.T) {
	// Transitions at 10, 20, 30, 40, 50 s.
	c := &ctrTruth{Engine: "p", ID: "c1", Timeline: trans("start die start die destroy")}
	plain := window{Engine: "p", From: at(15), To: at(25)}
	pairs := window{Engine: "p", From: at(15), To: at(45), Pairs: true}
	other := window{Engine: "q", From: at(0), To: at(100)}
	born := window{Engine: "p", From: at(5), To: at(25), Pairs: true}
	tests := []struct {
		name      string
		unmatched []int
		windows   []window
		lost      []int
		gap       int
	}{
		{"no window", []int{1, 2}, nil, []int{1, 2}, 0},
		{"another engine's window", []int{1}, []window{other}, []int{1}, 0},
		{"plain window: anything", []int{1}, []window{plain}, nil, 1},
		{"pairs window: a die and a start", []int{1, 2}, []window{pairs}, nil, 2},
		{"pairs window: a start and a die", []int{2, 3}, []window{pairs}, nil, 2},
		{"pairs window: a lone die is lost", []int{3}, []window{pairs}, []int{3}, 0},
		{"pairs window: two dies and a start", []int{1, 2, 3}, []window{pairs}, []int{1, 2, 3}, 0},
		{"outside the pairs window", []int{0, 1}, []window{pairs}, []int{0, 1}, 0},
		{"a plain window covers one of them", []int{1, 3}, []window{plain, pairs}, []int{3}, 1},
		{"a lone start is lost", []int{2}, []window{pairs}, []int{2}, 0},
		{"a lone first start, in the window the container began in", []int{0}, []window{born}, nil, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lost, gap := classifyUnmatched(c, tt.unmatched, tt.windows)
			if !reflect.DeepEqual(lost, tt.lost) || gap != tt.gap {
				t.Errorf("lost %v, gap %d; want %v, %d", lost, gap, tt.lost, tt.gap)
			}
		})
	}
}

func TestObserveDerivesTransitionsFromTheEngineTimes(t *testing.T) {
	c := &ctrTruth{Engine: "p", ID: "c1"}
	steps := []struct {
		o    observation
		want string
	}{
		{observation{Exists: true, StartedAt: zeroTime, FinishedAt: zeroTime}, ""},                           // created
		{observation{Exists: true, Running: true, StartedAt: ts(1), FinishedAt: zeroTime}, "start"},          // started
		{observation{Exists: true, Running: true, StartedAt: ts(1), FinishedAt: zeroTime}, ""},               // renamed
		{observation{Exists: true, Running: true, Paused: true, StartedAt: ts(1), FinishedAt: zeroTime}, ""}, // paused
		{observation{Exists: true, Running: true, StartedAt: ts(1), FinishedAt: zeroTime}, ""},               // unpaused
		{observation{Exists: true, Running: true, StartedAt: ts(3), FinishedAt: ts(2)}, "die start"},         // restarted
		{observation{Exists: true, Running: false, StartedAt: ts(3), FinishedAt: ts(4)}, "die"},              // engine killed, paused or not
		{observation{Exists: true, Running: true, StartedAt: ts(6), FinishedAt: ts(4)}, "start"},             // started again
		{observation{Exists: false}, "die destroy"},                                                          // rm -f
		{observation{Exists: true, Running: true, StartedAt: ts(9), FinishedAt: zeroTime}, ""},               // gone is final
	}
	for i, s := range steps {
		got := kinds(c.observe(s.o, at(10*i), at(10*i+1), "test"))
		if strings.Join(got, " ") != s.want {
			t.Errorf("step %d: transitions %q, want %q", i, got, s.want)
		}
	}
	if got := strings.Join(kinds(c.Timeline), " "); got != "start die start die start die destroy" {
		t.Errorf("timeline %q", got)
	}
}

func TestCompareCountsReplaysAndUnexplainedDeliveries(t *testing.T) {
	// c1 starts at 10 s, dies at 20 s, is destroyed at 30 s; c3 starts at 5 s
	// and dies at 23 s, 2 s before run 1 of the daemon is killed (at 25 s).
	truth := []*ctrTruth{{Engine: "p", ID: "c1", Timeline: trans("start die destroy")}, {Engine: "p", ID: "c3", Timeline: []transition{
		{Kind: kindStart, Lo: at(5), Hi: at(5)}, {Kind: kindDie, Lo: at(23), Hi: at(23)},
	}}}
	lines := []string{
		"record e1 start c1 p 0 1 1 T10 OK",
		"record e2 die c1 p 0 1 1 T20 FAIL",
		"record e2 die c1 p 0 2 1 T20 OK",
		"record e2 die c1 p 0 3 1 T20 OK", // a replay: another attempt
		"record e2 die c1 p 0 1 2 T20 OK", // a replay: another run of the daemon
		"record e2 die c1 p 0 1 2 T20 OK", // the same attempt twice, for an event before the crash
		"record e9 die c1 p 0 1 2 T20 OK", // a second die for one death: unexplained
		"record f1 start c3 p 0 1 1 T05 OK",
		"record f2 die c3 p 1 1 1 T23 OK", // synthesized by run 1, killed before its checkpoint
		"record f3 die c3 p 1 1 2 T26 OK", // so run 2 synthesizes it again: a crash replay
		"record e3 destroy c1 p 0 1 2 T30 OK",
		"record e3 destroy c1 p 0 1 2 T30 OK", // the same attempt twice, after the crash: unexplained
		"record e4 start c2 p 0 1 1 T05 OK",   // a container the soak never made
		"record torn line",
	}
	for i, l := range lines {
		for _, n := range []int{5, 10, 20, 23, 26, 30} {
			l = strings.Replace(l, fmt.Sprintf("T%02d", n), ts(n), 1)
		}
		lines[i] = l
	}
	recs, err := parseRecords(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	kills := []time.Time{at(25)} // run 1 was killed at 25 s
	reps, problems, notes := compare([]string{"record"}, truth, recs, nil, kills, 3*time.Second)
	got := *reps["record"]
	want := ruleReport{Expected: 5, Delivered: 5, Synthesized: 1, Replays: 2, CrashReplays: 2, Unexplained: 3, FailedAttempts: 1}
	if got != want {
		t.Errorf("report %+v, want %+v", got, want)
	}
	if len(problems) != 3 || len(notes) != 2 {
		t.Errorf("problems %+v, notes %+v", problems, notes)
	}
}

func TestWindowsExemptOnlyTheirEngine(t *testing.T) {
	w := []window{{Engine: "p", From: at(15), To: at(25)}}
	in := transition{Kind: "die", Lo: at(20), Hi: at(20)}
	if len(windowsOf("p", in, w)) != 1 || len(windowsOf("q", in, w)) != 0 {
		t.Error("a window exempts its engine only")
	}
	if len(windowsOf("p", transition{Lo: at(26), Hi: at(30)}, w)) != 0 || len(windowsOf("p", transition{Lo: at(10), Hi: at(15)}, w)) != 1 {
		t.Error("window bounds")
	}
}

// A real event can only be the transition stamped at its time, and a
// synthesized one only a transition that happened before it was noticed: a
// delivery never stands in for a transition far from it.
func TestAlignMatchesByTime(t *testing.T) {
	tr := func(k string, s int) transition { return transition{Kind: k, Lo: at(s), Hi: at(s)} }
	want := []transition{tr("start", 10), tr("die", 20), tr("start", 21), tr("die", 30), tr("start", 40), tr("die", 50)}
	got := []delivery{
		{Kind: "start", Time: at(10)},
		{Kind: "die", Synthetic: true, Time: at(31)},
		{Kind: "start", Time: at(40)},
		{Kind: "die", Synthetic: true, Time: at(51)},
		{Kind: "die", Synthetic: true, Time: at(52)}, // the same death, synthesized again
	}
	exempt := func(t transition) bool { return t.Lo.Equal(at(20)) || t.Lo.Equal(at(21)) }
	res := align(want, got, exempt)
	if res.matched != 4 || !reflect.DeepEqual(res.unmatched, []int{1, 2}) || !reflect.DeepEqual(res.extra, []int{4}) {
		t.Errorf("align = %+v, want 4 matched, the exempt pair unmatched and the last die extra", res)
	}
	if compatible(tr("start", 21), got[2]) || !compatible(tr("die", 20), got[1]) || compatible(tr("die", 60), got[3]) {
		t.Error("compatible")
	}
}

func TestCompareFailsRepeatsOfCompletedDeliveriesOutsideTheFsyncWindow(t *testing.T) {
	// c1 starts at 10 s, dies at 20 s, is destroyed at 30 s. Run 1 of the
	// daemon is SIGKILLed at 25 s, run 2 at 40 s; run 3 is stopped cleanly.
	truth := []*ctrTruth{{Engine: "p", ID: "c1", Timeline: trans("start die destroy")}}
	done := func(d time.Duration) string { return at(25).Add(d).Format(time.RFC3339Nano) }
	lines := []string{
		"record e1 start c1 p 0 1 1 " + ts(10) + " " + done(-14*time.Second) + " OK",
		"record e2 die c1 p 0 1 1 " + ts(20) + " " + done(-200*time.Millisecond) + " OK",
		"record e1 start c1 p 0 1 2 " + ts(10) + " " + done(time.Second) + " OK", // completed 14 s before the kill: a failure
		"record e2 die c1 p 0 1 2 " + ts(20) + " " + done(time.Second) + " OK",   // completed 200 ms before the kill: the fsync window
		"record e3 destroy c1 p 0 1 2 " + ts(30) + " " + done(10*time.Second) + " OK",
		"record e3 destroy c1 p 0 1 3 " + ts(30) + " " + done(20*time.Second) + " OK", // run 2 was killed 5 s after: a failure
		"record e2 die c1 p 0 1 3 " + ts(20) + " " + done(20*time.Second) + " OK",     // completed again by run 2, 14 s before its kill
		"record e1 start c1 p 0 1 1 " + ts(10) + " " + done(-13*time.Second) + " FAIL",
	}
	recs, err := parseRecords(strings.NewReader(strings.Join(lines, "\n")))
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != len(lines) || recs[0].Done.IsZero() || recs[0].OK != true || recs[7].OK {
		t.Fatalf("parsed %+v", recs)
	}
	kills := []time.Time{at(25), at(40), {}}
	reps, problems, notes := compare([]string{"record"}, truth, recs, nil, kills, 3*time.Second)
	got := *reps["record"]
	want := ruleReport{Expected: 3, Delivered: 3, CompletedRepeats: 3, WindowRepeats: 1, FailedAttempts: 1}
	if got != want {
		t.Errorf("report %+v, want %+v", got, want)
	}
	var what []string
	for _, p := range problems {
		what = append(what, p.What)
	}
	if len(problems) != 3 || what[0] != "repeat of a completed delivery" || len(notes) != 1 {
		t.Errorf("problems %v, notes %+v; want 3 repeats of completed deliveries and 1 note", what, notes)
	}
}

func TestLedgerOfAnOlderSoakWithoutDoneIsReadAsBefore(t *testing.T) {
	recs, err := parseRecords(strings.NewReader("record e1 start c1 p 0 1 1 " + ts(10) + " OK\n"))
	if err != nil || len(recs) != 1 || !recs[0].Done.IsZero() || !recs[0].OK || recs[0].Run != 1 {
		t.Fatalf("parsed %+v, %v", recs, err)
	}
}
