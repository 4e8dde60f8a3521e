package daemon

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/informer/informertest"
)

// haTestConfig has one engine and a rule that records, for every start,
// the replica, the fence token and the container in $OUT/runs.
const haTestConfig = `
cluster:
  a: %s
ha:
  etcd: {endpoints: [%s], prefix: %s}
  ttl: 2s
  id: %s
events:
  - name: started
    type: start
    command: echo "$EVENTSD_REPLICA $EVENTSD_FENCE_TOKEN $CONTAINER_ID" >> "$OUT/runs"
state:
  - name: running
    status: [running]
    debounce: 10ms
    max_delay: 50ms
    command: echo "$EVENTSD_REPLICA $EVENTSD_FENCE_TOKEN $STATE_COUNT" >> "$OUT/state-runs"
`

// haReplica is one daemon of an HA test, over the shared fake engine.
type haReplica struct {
	id   string
	d    *Daemon
	stop context.CancelFunc
	done chan error
}

// startReplica runs a daemon with ha: replica id over fk, recording in out.
func startReplica(t *testing.T, fk *informertest.Engine, prefix, out, id string) *haReplica {
	t.Helper()
	eps := os.Getenv("EVENTSD_TEST_ETCD_CLUSTER")
	if eps == "" {
		t.Skip("EVENTSD_TEST_ETCD_CLUSTER not set (hack/etcd-cluster.sh up)")
	}
	cfg, err := config.Parse("events.yml", fmt.Appendf(nil, haTestConfig, url("a"), eps, prefix, id))
	if err != nil {
		t.Fatal(err)
	}
	d, err := New(Options{
		Config: cfg, Workers: 2, Logger: testr.New(t).WithValues("replica", id), ShutdownTimeout: 5 * time.Second,
		Environ:   []string{"PATH=" + os.Getenv("PATH"), "OUT=" + out},
		NewClient: func(config.Engine) (informer.Client, error) { return fk, nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &haReplica{id: id, d: d, stop: cancel, done: make(chan error, 1)}
	go func() { r.done <- d.Run(ctx) }()
	t.Cleanup(r.shutdown)
	return r
}

func (r *haReplica) shutdown() {
	if r.stop == nil {
		return
	}
	r.stop()
	r.stop = nil
	<-r.done
}

// haRun is one line of $OUT/runs.
type haRunLine struct {
	replica   string
	token     int64
	container string
}

func readRuns(t *testing.T, out string) []haRunLine {
	t.Helper()
	b, _ := os.ReadFile(filepath.Join(out, "runs"))
	var runs []haRunLine
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			continue
		}
		tok, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			t.Fatalf("line %q: fence token: %v", l, err)
		}
		runs = append(runs, haRunLine{f[0], tok, f[2]})
	}
	return runs
}

// waitRuns waits until n runs are recorded, and returns them.
func waitRuns(t *testing.T, out string, n int) []haRunLine {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		runs := readRuns(t, out)
		if len(runs) >= n {
			return runs
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d runs recorded in %v, want %d: %+v", len(runs), waitTimeout, n, runs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// leaderOf waits for one of rs to lead and returns it.
func leaderOf(t *testing.T, rs ...*haReplica) *haReplica {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for time.Now().Before(deadline) {
		for _, r := range rs {
			if s := r.d.ha.status(); s != nil && s.Leading {
				return r
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("no replica leads")
	return nil
}

func TestOnlyTheLeaderRunsHandlersAndAStandbyTakesOverWithoutRunningThemAgain(t *testing.T) {
	fk := informertest.New()
	out := t.TempDir()
	prefix := fmt.Sprintf("/eventsd-test/%s/%d/", t.Name(), time.Now().UnixNano())
	a := startReplica(t, fk, prefix, out, "ra")
	b := startReplica(t, fk, prefix, out, "rb")
	first := leaderOf(t, a, b)
	other := b
	if first == b {
		other = a
	}
	for _, r := range []*haReplica{a, b} {
		select {
		case <-r.d.Informer("a").Synced():
		case <-time.After(waitTimeout):
			t.Fatal("engine not in sync")
		}
	}
	fk.Create("c1", "c1", "img", nil)
	fk.Start("c1")
	runs := waitRuns(t, out, 1)
	if runs[0].replica != first.id || runs[0].container != "c1" || runs[0].token <= 0 {
		t.Fatalf("run = %+v, want c1 on the leader %s with a token", runs[0], first.id)
	}
	// The standby shows the leader in /status and /readyz.
	deadline := time.Now().Add(waitTimeout)
	for other.d.ha.status().Leader != first.id && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if got := other.d.HAReady(); !strings.Contains(got, "leader "+first.id) {
		t.Fatalf("standby's readyz line = %q", got)
	}
	// Its copy of the delivery is dropped once the leader's record comes.
	deadline = time.Now().Add(waitTimeout)
	for other.d.Pending() != 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if p := other.d.Pending(); p != 0 {
		t.Fatalf("standby keeps %d deliveries the leader completed", p)
	}
	first.shutdown()
	if l := leaderOf(t, other); l != other {
		t.Fatal("the standby did not take over")
	}
	fk.Create("c2", "c2", "img", nil)
	fk.Start("c2")
	runs = waitRuns(t, out, 2)
	time.Sleep(500 * time.Millisecond)
	runs = readRuns(t, out)
	if len(runs) != 2 || runs[1].replica != other.id || runs[1].container != "c2" || runs[1].token <= runs[0].token {
		t.Fatalf("runs = %+v, want c1 once on %s then c2 on %s with a greater token", runs, first.id, other.id)
	}
	// The state rule ran on the leader of the moment only: the set with c1
	// (count 1) on the first, the set with c2 on the second.
	sr, _ := os.ReadFile(filepath.Join(out, "state-runs"))
	var sawFirst, sawOther bool
	for _, l := range strings.Split(strings.TrimSpace(string(sr)), "\n") {
		f := strings.Fields(l)
		if len(f) != 3 {
			t.Fatalf("state run line %q", l)
		}
		switch {
		case f[0] == first.id && f[2] == "1":
			sawFirst = true
		case f[0] == other.id && f[2] == "2":
			sawOther = true
		case f[0] == first.id && f[2] == "0", f[0] == other.id:
			// the empty set at start-up; the new leader's run of the set it found
		default:
			t.Errorf("state run %q: ran on a standby, or with a set it did not lead for", l)
		}
	}
	if !sawFirst || !sawOther {
		t.Fatalf("state runs:\n%s\nwant the first leader's with c1 and the second's with c1 and c2", sr)
	}
}

func TestAReplicaWhoseEtcdIsOutOfReachStartsAsAStandbyAndKeepsItsDeliveries(t *testing.T) {
	fk := informertest.New()
	out := t.TempDir()
	// Nothing listens there (the top of this package's test port range).
	cfg, err := config.Parse("events.yml", fmt.Appendf(nil, haTestConfig, url("a"), "http://127.0.0.1:24799", "/x/", "lonely"))
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	d, err := New(Options{
		Config: cfg, Workers: 2, Logger: testr.New(t), ShutdownTimeout: time.Second,
		Environ:   []string{"PATH=" + os.Getenv("PATH"), "OUT=" + out},
		NewClient: func(config.Engine) (informer.Client, error) { return fk, nil },
	})
	if err != nil {
		t.Fatalf("New with etcd out of reach: %v", err)
	}
	t.Logf("New returned after %v", time.Since(start))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	select {
	case <-d.Informer("a").Synced():
	case <-time.After(waitTimeout):
		t.Fatal("engine not in sync")
	}
	fk.Create("c1", "c1", "img", nil)
	fk.Start("c1")
	deadline := time.Now().Add(waitTimeout)
	for d.Pending() != 1 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(time.Second)
	if p := d.Pending(); p != 1 {
		t.Fatalf("Pending = %d, want the delivery kept", p)
	}
	if runs := readRuns(t, out); len(runs) != 0 {
		t.Fatalf("a replica without etcd ran %+v", runs)
	}
	if s := d.Status(0).HA; s == nil || s.Leading || s.Connected || s.Replica != "lonely" {
		t.Fatalf("status = %+v", s)
	}
}

// shardTestConfig has three engines shared by the replicas.
const shardTestConfig = `
cluster:
  a: tcp://a.invalid:2375
  b: tcp://b.invalid:2375
  c: tcp://c.invalid:2375
ha:
  etcd: {endpoints: [%s], prefix: %s}
  ttl: 2s
  mode: shard
  id: %s
events:
  - name: started
    type: start
    command: echo "$EVENTSD_REPLICA $EVENTSD_FENCE_TOKEN $FROM_ENGINE-$CONTAINER_ID" >> "$OUT/runs"
`

func TestShardModeRunsEachEnginesEventsOnItsOwnerAndMovesADeadReplicasEngines(t *testing.T) {
	eps := os.Getenv("EVENTSD_TEST_ETCD_CLUSTER")
	if eps == "" {
		t.Skip("EVENTSD_TEST_ETCD_CLUSTER not set (hack/etcd-cluster.sh up)")
	}
	fakes := map[string]*informertest.Engine{}
	for _, n := range []string{"a", "b", "c"} {
		fakes["tcp://"+n+".invalid:2375"] = informertest.New()
	}
	out := t.TempDir()
	prefix := fmt.Sprintf("/eventsd-test/%s/%d/", t.Name(), time.Now().UnixNano())
	var rs []*haReplica
	for _, id := range []string{"r1", "r2"} {
		cfg, err := config.Parse("events.yml", fmt.Appendf(nil, shardTestConfig, eps, prefix, id))
		if err != nil {
			t.Fatal(err)
		}
		d, err := New(Options{
			Config: cfg, Workers: 2, Logger: testr.New(t).WithValues("replica", id), ShutdownTimeout: 5 * time.Second,
			Environ:   []string{"PATH=" + os.Getenv("PATH"), "OUT=" + out},
			NewClient: func(e config.Engine) (informer.Client, error) { return fakes[e.URL], nil },
		})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		r := &haReplica{id: id, d: d, stop: cancel, done: make(chan error, 1)}
		go func() { r.done <- d.Run(ctx) }()
		t.Cleanup(r.shutdown)
		rs = append(rs, r)
	}
	// Every engine owned by one of the two.
	deadline := time.Now().Add(waitTimeout)
	for {
		n := 0
		for _, r := range rs {
			n += len(r.d.ha.status().Owned)
		}
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d engines owned, want 3", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
	owner := map[string]string{}
	for _, r := range rs {
		for _, e := range r.d.ha.status().Owned {
			owner[e] = r.id
		}
	}
	for _, r := range rs {
		for _, n := range []string{"a", "b", "c"} {
			select {
			case <-r.d.Informer(n).Synced():
			case <-time.After(waitTimeout):
				t.Fatal("engine not in sync")
			}
		}
	}
	for _, n := range []string{"a", "b", "c"} {
		fk := fakes["tcp://"+n+".invalid:2375"]
		fk.Create("x1", "x1", "img", nil)
		fk.Start("x1")
	}
	runs := waitRuns(t, out, 3)
	time.Sleep(500 * time.Millisecond)
	runs = readRuns(t, out)
	if len(runs) != 3 {
		t.Fatalf("runs = %+v, want one per engine", runs)
	}
	for _, r := range runs {
		if e := strings.Split(r.container, "-")[0]; owner[e] != r.replica {
			t.Errorf("run %+v: engine %s is owned by %s", r, e, owner[e])
		}
	}
	// r1 leaves: r2 owns the three engines, and runs their next events.
	rs[0].shutdown()
	deadline = time.Now().Add(waitTimeout)
	for len(rs[1].d.ha.status().Owned) != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("r2 owns %v after r1 left", rs[1].d.ha.status().Owned)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, n := range []string{"a", "b", "c"} {
		fk := fakes["tcp://"+n+".invalid:2375"]
		fk.Create("x2", "x2", "img", nil)
		fk.Start("x2")
	}
	runs = waitRuns(t, out, 6)
	time.Sleep(500 * time.Millisecond)
	runs = readRuns(t, out)
	if len(runs) != 6 {
		t.Fatalf("runs = %+v, want one per event", runs)
	}
	for _, r := range runs[3:] {
		if r.replica != "r2" {
			t.Errorf("run %+v after r1 left, want on r2", r)
		}
	}
}
