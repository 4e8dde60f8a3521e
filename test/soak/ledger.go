package soak

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"
)

// record is one line a handler appended to the ledger file:
//
//	RULE EVENT_ID EVENT_ACTION CONTAINER_ID FROM_ENGINE EVENT_SYNTHETIC EVENT_ATTEMPT SOAK_RUN EVENT_TIME DONE STATUS
//
// DONE is when the handler wrote the line (a ledger of an older soak has no
// DONE: its Done is zero). STATUS is OK when the handler is about to exit 0,
// FAIL when it exits 1.
type record struct {
	Rule      string    `json:"rule"`
	EventID   string    `json:"eventId"`
	Type      string    `json:"type"`
	Container string    `json:"container"`
	Engine    string    `json:"engine"`
	Synthetic bool      `json:"synthetic"`
	Attempt   int       `json:"attempt"`
	Run       int       `json:"run"`
	Time      time.Time `json:"time"`
	Done      time.Time `json:"done,omitzero"`
	OK        bool      `json:"ok"`
}

// completionWindow is how long after a handler's OK line (written just
// before it exits 0) the daemon may take to make its completion durable: the
// handler's exit, the daemon reaping it, and the group commit that removes it
// from the journal and records it as completed (one fsync, behind at most
// one commit in flight). Only a SIGKILL of the daemon within it may run the
// delivery again after the restart (docs/RELIABILITY.md); a repeat outside it
// is a failure.
const completionWindow = 500 * time.Millisecond

// readRecords parses the ledger file; a torn last line (a handler killed while
// writing) is skipped.
func readRecords(path string) ([]record, error) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return parseRecords(f)
}

func parseRecords(r io.Reader) ([]record, error) {
	var out []record
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		var done time.Time
		switch len(fields) {
		case 10:
		case 11:
			var err error
			if done, err = time.Parse(time.RFC3339Nano, fields[9]); err != nil {
				continue
			}
			fields = append(fields[:9], fields[10])
		default:
			continue
		}
		attempt, err1 := strconv.Atoi(fields[6])
		run, err2 := strconv.Atoi(fields[7])
		when, err3 := time.Parse(time.RFC3339Nano, fields[8])
		if err1 != nil || err2 != nil || err3 != nil {
			continue
		}
		out = append(out, record{
			Rule: fields[0], EventID: fields[1], Type: fields[2], Container: fields[3], Engine: fields[4],
			Synthetic: fields[5] == "1", Attempt: attempt, Run: run, Time: when, Done: done, OK: fields[9] == "OK",
		})
	}
	return out, sc.Err()
}

// window is a stretch of time during which an engine's transitions may be
// lost by design: the daemon was killed without a --state-dir and had not
// listed the engine again yet; or, with a --state-dir, the daemon was killed
// and the engine too (its ring with it) before the daemon read back what it
// had not checkpointed yet.
type window struct {
	Engine string    `json:"engine"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	Why    string    `json:"why"`
	// Pairs limits the window to losses no relist can see: its lost
	// transitions of a container must be as many starts as dies (the
	// container ends as it was), and no destroy.
	Pairs bool `json:"pairs,omitempty"`
}

// ruleReport counts one rule's deliveries against the truth.
type ruleReport struct {
	Expected    int `json:"expected"`
	Delivered   int `json:"delivered"`
	Synthesized int `json:"synthesized"`
	// Lost are expected transitions never delivered, outside any window.
	Lost int `json:"lost"`
	// GapLost are transitions never delivered inside a documented window
	// (the daemon down without --state-dir).
	GapLost int `json:"gapLost"`
	// Replays are deliveries of an event already delivered (same EVENT_ID):
	// another attempt, or another run of the daemon. At-least-once allows them.
	Replays int `json:"replays"`
	// CrashReplays are deliveries that a SIGKILL of the daemon explains: a
	// delivery of an event already delivered by the same attempt of the same
	// run, for an event older than the SIGKILL of the run before (the
	// journal's pending delivery and the engine's replay of the event both
	// ran); or a transition synthesized again, with a new EVENT_ID, by the
	// run after the one that synthesized and delivered it (it was not
	// checkpointed yet). At-least-once allows them.
	CrashReplays int `json:"crashReplays"`
	// CompletedRepeats are runs, by a later run of the daemon, of a delivery
	// an earlier run had completed (same EVENT_ID, its OK line written more
	// than completionWindow before that run was SIGKILLed, or the run was not
	// killed): the state file records completed deliveries, so a failure.
	CompletedRepeats int `json:"completedRepeats"`
	// WindowRepeats are such runs for a completion less than
	// completionWindow before the SIGKILL (or after it: the daemon never
	// saw the handler exit). Allowed.
	WindowRepeats int `json:"windowRepeats"`
	// Unexplained are deliveries that match no transition (a second event for
	// one transition), or another delivery by the same attempt of the same
	// run of an event that happened after the last crash.
	Unexplained int `json:"unexplained"`
	// FailedAttempts are handler runs that exited 1 (the flaky rule).
	FailedAttempts int `json:"failedAttempts"`
}

// problem describes one lost transition or unexplained delivery.
type problem struct {
	Rule      string     `json:"rule"`
	Engine    string     `json:"engine"`
	Container string     `json:"container"`
	Name      string     `json:"name,omitempty"`
	What      string     `json:"what"`
	Kind      string     `json:"kind"`
	Expected  []string   `json:"expected"`
	Delivered []string   `json:"delivered"`
	When      *time.Time `json:"when,omitempty"`
}

// delivery is a distinct event a rule's handler completed, in order.
type delivery struct {
	EventID   string
	Kind      string
	Synthetic bool
	Run       int       // the run of the daemon that first completed it
	Time      time.Time // its EVENT_TIME (zero: unknown)
}

// compare matches, rule by rule and container by container, the transitions
// that happened with the events the handlers completed. kills[i] is when run
// i+1 of the daemon was SIGKILLed (zero if it was not). It returns the
// reports by rule, the problems (lost and unexplained), and notes on what a
// crash explained.
//
// slack is how old the daemon's durable state may be when it is killed: a
// transition synthesized and delivered less than slack before a SIGKILL may
// be synthesized again, with a new EVENT_ID, by the next run.
func compare(rules []string, truth []*ctrTruth, recs []record, windows []window, kills []time.Time, slack time.Duration) (reports map[string]*ruleReport, problems, notes []problem) {
	reports = map[string]*ruleReport{}
	killed := func(run int) bool { return run >= 1 && run <= len(kills) && !kills[run-1].IsZero() }
	for _, rule := range rules {
		rep := &ruleReport{}
		reports[rule] = rep
		// The rule's deliveries per container, distinct event IDs in order.
		type seenKey struct {
			id           string
			attempt, run int
		}
		per := map[string][]delivery{}
		seen := map[string]map[seenKey]bool{}
		lastOK := map[string]record{} // the latest completion of each EVENT_ID
		for _, r := range recs {
			if r.Rule != rule {
				continue
			}
			if !r.OK {
				rep.FailedAttempts++
				continue
			}
			prev, repeat := lastOK[r.EventID]
			lastOK[r.EventID] = r
			if repeat && r.Run > prev.Run && !prev.Done.IsZero() {
				p := problem{Rule: rule, Engine: r.Engine, Container: r.Container, Kind: r.Type}
				if killed(prev.Run) && kills[prev.Run-1].Sub(prev.Done) <= completionWindow {
					rep.WindowRepeats++
					p.What = "completed within the fsync window before a SIGKILL: run again"
					notes = append(notes, p)
				} else {
					rep.CompletedRepeats++
					p.What = "repeat of a completed delivery"
					when := prev.Done
					p.When = &when
					problems = append(problems, p)
				}
				seen[r.EventID][seenKey{r.EventID, r.Attempt, r.Run}] = true
				continue
			}
			key := r.Engine + "/" + r.Container
			if seen[r.EventID] == nil {
				seen[r.EventID] = map[seenKey]bool{}
				per[key] = append(per[key], delivery{EventID: r.EventID, Kind: r.Type, Synthetic: r.Synthetic, Run: r.Run, Time: r.Time})
			} else {
				k := seenKey{r.EventID, r.Attempt, r.Run}
				switch {
				case !seen[r.EventID][k]:
					rep.Replays++
				case killed(r.Run-1) && r.Time.Before(kills[r.Run-2]):
					rep.CrashReplays++
					notes = append(notes, problem{Rule: rule, Engine: r.Engine, Container: r.Container, What: "delivered again after a crash", Kind: r.Type})
				default:
					rep.Unexplained++
					problems = append(problems, problem{Rule: rule, Engine: r.Engine, Container: r.Container, What: "delivered twice by one attempt", Kind: r.Type})
				}
			}
			seen[r.EventID][seenKey{r.EventID, r.Attempt, r.Run}] = true
		}
		known := map[string]bool{}
		for _, c := range truth {
			key := c.Engine + "/" + c.ID
			known[key] = true
			res := align(c.Timeline, per[key], func(t transition) bool { return len(windowsOf(c.Engine, t, windows)) > 0 })
			lost, gapLost := classifyUnmatched(c, res.unmatched, windows)
			rep.Expected += len(c.Timeline)
			rep.Delivered += res.matched
			rep.Synthesized += res.synthesized
			rep.Lost += len(lost)
			rep.GapLost += gapLost
			for _, j := range res.extra {
				if resynthesized(c.Timeline, per[key], res.pairs, j, kills, slack) {
					rep.CrashReplays++
					notes = append(notes, problem{Rule: rule, Engine: c.Engine, Container: c.ID, Name: c.Name,
						What: "synthesized again after a crash", Kind: per[key][j].Kind,
						Expected: kinds(c.Timeline), Delivered: deliveryKinds(per[key])})
					continue
				}
				rep.Unexplained++
				problems = append(problems, problem{Rule: rule, Engine: c.Engine, Container: c.ID, Name: c.Name,
					What: "unexplained delivery", Kind: per[key][j].Kind,
					Expected: kinds(c.Timeline), Delivered: deliveryKinds(per[key])})
			}
			for _, i := range lost {
				when := c.Timeline[i].Hi
				problems = append(problems, problem{Rule: rule, Engine: c.Engine, Container: c.ID, Name: c.Name,
					What: "lost (" + c.Timeline[i].Reason + ")", Kind: c.Timeline[i].Kind, When: &when,
					Expected: kinds(c.Timeline), Delivered: deliveryKinds(per[key])})
			}
		}
		// Deliveries for containers the soak never made.
		keys := make([]string, 0, len(per))
		for k := range per {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			if known[k] {
				continue
			}
			rep.Unexplained += len(per[k])
			engine, id, _ := strings.Cut(k, "/")
			problems = append(problems, problem{Rule: rule, Engine: engine, Container: id, What: "delivery for an unknown container",
				Delivered: deliveryKinds(per[k])})
		}
	}
	return reports, problems, notes
}

// resynthesized reports whether the unmatched delivery j is a transition
// synthesized again after a crash: j is synthesized by a run that follows a
// SIGKILLed one, and an earlier delivery of the same kind, by a run that was
// SIGKILLed, matched a transition that happened less than slack before that
// kill (so the killed run's durable state may not have recorded it).
func resynthesized(want []transition, got []delivery, pairs [][2]int, j int, kills []time.Time, slack time.Duration) bool {
	d := got[j]
	if !d.Synthetic || d.Run < 2 || d.Run-1 > len(kills) || kills[d.Run-2].IsZero() {
		return false
	}
	for _, p := range pairs {
		w, g := want[p[0]], got[p[1]]
		if p[1] >= j || g.Kind != d.Kind || g.Run >= d.Run || g.Run > len(kills) {
			continue
		}
		if k := kills[g.Run-1]; !k.IsZero() && !w.Hi.Before(k.Add(-slack)) && !w.Lo.After(k) {
			return true
		}
	}
	return false
}

func kinds(ts []transition) []string {
	out := make([]string, len(ts))
	for i, t := range ts {
		out[i] = t.Kind
	}
	return out
}

func deliveryKinds(ds []delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.Kind
		if d.Synthetic {
			out[i] += "*"
		}
	}
	return out
}

// windowsOf returns the indexes of the windows of engine that t falls in.
func windowsOf(engine string, t transition, windows []window) []int {
	var out []int
	for i, w := range windows {
		if w.Engine == engine && !t.Hi.Before(w.From) && !t.Lo.After(w.To) {
			out = append(out, i)
		}
	}
	return out
}

// classifyUnmatched sorts the transitions of c that no delivery matched into
// lost ones (returned) and those lost in a documented window (counted). A
// transition in a plain window is exempt; one only in pairs windows is exempt
// when, in one of them, the unmatched transitions of c are as many starts as
// dies and no destroy (the container ended as it was) — or one start more,
// for a container that began in the window (the daemon first saw it stopped,
// and synthesized its die only).
func classifyUnmatched(c *ctrTruth, unmatched []int, windows []window) (lost []int, gapLost int) {
	type tally struct{ starts, dies, others int }
	tallies := map[int]*tally{}
	pairsOnly := map[int][]int{} // transition -> its pairs windows
	for _, i := range unmatched {
		ws := windowsOf(c.Engine, c.Timeline[i], windows)
		plain := false
		for _, w := range ws {
			if !windows[w].Pairs {
				plain = true
			}
		}
		switch {
		case plain:
			gapLost++
		case len(ws) == 0:
			lost = append(lost, i)
		default:
			pairsOnly[i] = ws
			for _, w := range ws {
				if tallies[w] == nil {
					tallies[w] = &tally{}
				}
				switch c.Timeline[i].Kind {
				case kindStart:
					tallies[w].starts++
				case kindDie:
					tallies[w].dies++
				default:
					tallies[w].others++
				}
			}
		}
	}
	var born []int // windows c began in
	if len(c.Timeline) > 0 {
		born = windowsOf(c.Engine, c.Timeline[0], windows)
	}
	for _, i := range unmatched {
		ws, ok := pairsOnly[i]
		if !ok {
			continue
		}
		exempt := false
		for _, w := range ws {
			t := tallies[w]
			if t.others == 0 && (t.starts == t.dies || (t.starts == t.dies+1 && slices.Contains(born, w))) {
				exempt = true
			}
		}
		if exempt {
			gapLost++
		} else {
			lost = append(lost, i)
		}
	}
	sort.Ints(lost)
	return lost, gapLost
}

// alignment is the result of align.
type alignment struct {
	matched, synthesized int
	pairs                [][2]int // (expected, delivery) index pairs that matched
	unmatched            []int    // indexes of expected transitions no delivery matched
	extra                []int    // indexes of deliveries that match nothing
}

// timeSlack is how far apart the engine's time of a transition (inspect) and
// the time of its event may be.
const timeSlack = 2 * time.Second

// compatible reports whether delivery d can be transition t: the same kind,
// and, when d's time is known, a real event stamped when t happened, or a
// synthesized one noticed after t happened.
func compatible(t transition, d delivery) bool {
	if t.Kind != d.Kind {
		return false
	}
	if d.Time.IsZero() {
		return true
	}
	if d.Time.Before(t.Lo.Add(-timeSlack)) {
		return false
	}
	return d.Synthetic || !d.Time.After(t.Hi.Add(timeSlack))
}

// align matches the expected transitions of one container with the distinct
// events delivered for it, both in order: the longest common subsequence of
// compatible pairs, and among those the one that leaves unmatched as many
// transitions of the documented windows as it can (so a transition is only
// blamed outside a window when no other matching exists).
func align(want []transition, got []delivery, exempt func(transition) bool) alignment {
	n, m := len(want), len(got)
	type score struct{ matched, exempt int }
	better := func(a, b score) bool {
		return a.matched > b.matched || (a.matched == b.matched && a.exempt > b.exempt)
	}
	ex := make([]int, n)
	for i := range want {
		if exempt(want[i]) {
			ex[i] = 1
		}
	}
	// dp[i][j] is the best score for want[i:] and got[j:].
	dp := make([][]score, n+1)
	for i := range dp {
		dp[i] = make([]score, m+1)
	}
	for i := n - 1; i >= 0; i-- {
		dp[i][m] = score{0, dp[i+1][m].exempt + ex[i]}
	}
	skipWant := func(i, j int) score { return score{dp[i+1][j].matched, dp[i+1][j].exempt + ex[i]} }
	match := func(i, j int) score { return score{dp[i+1][j+1].matched + 1, dp[i+1][j+1].exempt} }
	for i := n - 1; i >= 0; i-- {
		for j := m - 1; j >= 0; j-- {
			best := skipWant(i, j)
			if s := dp[i][j+1]; better(s, best) {
				best = s
			}
			if compatible(want[i], got[j]) {
				if s := match(i, j); !better(best, s) {
					best = s
				}
			}
			dp[i][j] = best
		}
	}
	var res alignment
	i, j := 0, 0
	for i < n || j < m {
		switch {
		case i == n:
			res.extra = append(res.extra, j)
			j++
		case j == m:
			res.unmatched = append(res.unmatched, i)
			i++
		case compatible(want[i], got[j]) && dp[i][j] == match(i, j):
			res.matched++
			res.pairs = append(res.pairs, [2]int{i, j})
			if got[j].Synthetic {
				res.synthesized++
			}
			i++
			j++
		case dp[i][j] == skipWant(i, j):
			res.unmatched = append(res.unmatched, i)
			i++
		default:
			res.extra = append(res.extra, j)
			j++
		}
	}
	return res
}

func (r *ruleReport) String() string {
	return fmt.Sprintf("expected %d, delivered %d (synthesized %d), lost %d, lost in documented gaps %d, replays %d, crash replays %d, "+
		"repeats of completed deliveries %d (in the fsync window %d), unexplained %d, failed attempts %d",
		r.Expected, r.Delivered, r.Synthesized, r.Lost, r.GapLost, r.Replays, r.CrashReplays,
		r.CompletedRepeats, r.WindowRepeats, r.Unexplained, r.FailedAttempts)
}
