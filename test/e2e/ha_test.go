package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

// haTTL is the session lease of the HA tests: short, to keep them fast.
const haTTL = 2 * time.Second

// haEtcd returns the endpoints of the etcd cluster of hack/etcd-cluster.sh.
// Under hack/test.sh (engines described) the cluster must be there too.
func haEtcd(t *testing.T) string {
	t.Helper()
	eps := os.Getenv("EVENTSD_TEST_ETCD_CLUSTER")
	if eps == "" {
		if os.Getenv("EVENTSD_TEST_ENGINES") != "" {
			t.Fatal("EVENTSD_TEST_ETCD_CLUSTER not set under hack/test.sh: its etcd-cluster block did not run")
		}
		t.Skip("EVENTSD_TEST_ETCD_CLUSTER not set (hack/etcd-cluster.sh up)")
	}
	return eps
}

// etcdMember runs hack/etcd-cluster.sh verb n (kill or start).
func etcdMember(t *testing.T, verb string, n int) {
	t.Helper()
	out, err := exec.Command("../../hack/etcd-cluster.sh", verb, strconv.Itoa(n)).CombinedOutput()
	if err != nil {
		t.Fatalf("etcd-cluster.sh %s %d: %v: %s", verb, n, err, out)
	}
}

// haRun is one handler run as the HA rule records it.
type haRun struct {
	replica    string
	token      int64
	container  string
	start, end time.Time
}

// haCmd records, after the run, one line: replica, fence token, container,
// start and end times (ns). 200 ms long, so that overlaps would show.
const haCmd = `s=$(date +%s%N); sleep 0.2; e=$(date +%s%N); ` +
	`echo "$EVENTSD_REPLICA $EVENTSD_FENCE_TOKEN $FROM_CONTAINER $s $e" >> "$OUT/runs"`

// haSet is three replicas of the daemon on engine a and the test etcd.
type haSet struct {
	t        *testing.T
	out      string
	prefix   string
	replicas map[string]*daemon
	engine   string
	img      string
	path     string

	mu      sync.Mutex
	started []string // containers started, in order
}

// startHASet starts replicas r1..rn with the same config and $OUT.
func startHASet(t *testing.T, n int) *haSet {
	t.Helper()
	eps := haEtcd(t)
	engines := testenv.Engines(t)
	s := &haSet{t: t, out: t.TempDir(), prefix: unique("ha"), replicas: map[string]*daemon{},
		engine: engines["a"], img: testenv.Image(t)}
	cfg := fmt.Sprintf(`
cluster:
  a: %s
ha:
  etcd: {endpoints: [%s], prefix: /eventsd-e2e/%s/}
  ttl: %s
  id: ${REPLICA}
events:
  - name: ha
    type: start
    from_container: '%s-*'
    command: '%s'
`, s.engine, strings.ReplaceAll(eps, ",", ", "), s.prefix, haTTL, s.prefix, haCmd)
	path := filepath.Join(s.out, "events.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	s.path = path
	for i := 1; i <= n; i++ {
		s.launch(fmt.Sprintf("r%d", i))
	}
	return s
}

// launch starts (again) the replica id.
func (s *haSet) launch(id string) {
	s.replicas[id] = launchDaemon(s.t, s.path, s.out, "", []string{"REPLICA=" + id}, 1)
}

// leader waits until exactly one replica last logged that it leads, and
// returns its name.
func (s *haSet) leader(timeout time.Duration, except ...string) string {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		var leading []string
		for id, d := range s.replicas {
			logs := d.Logs()
			if !slices.Contains(except, id) && strings.LastIndex(logs, `"msg":"Leading"`) > strings.LastIndex(logs, `"msg":"Stopped leading"`) {
				leading = append(leading, id)
			}
		}
		if len(leading) == 1 {
			return leading[0]
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("no single leader within %v", timeout)
	return ""
}

// startContainer starts container prefix-name on the engine.
func (s *haSet) startContainer(name string) {
	ctr := s.prefix + "-" + name
	testenv.RunContainer(s.t, s.engine, ctr, s.img, "sleep", "600")
	s.mu.Lock()
	s.started = append(s.started, ctr)
	s.mu.Unlock()
}

// churn starts a container every 250 ms until stop is closed.
func (s *haSet) churn(stop <-chan struct{}) *sync.WaitGroup {
	var wg sync.WaitGroup
	wg.Go(func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(250 * time.Millisecond):
			}
			s.startContainer(fmt.Sprintf("c%d", i))
		}
	})
	return &wg
}

// runs reads the recorded runs, by start time.
func (s *haSet) runs() []haRun {
	s.t.Helper()
	b, _ := os.ReadFile(filepath.Join(s.out, "runs"))
	var runs []haRun
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		f := strings.Fields(l)
		if len(f) != 5 {
			continue
		}
		tok, err1 := strconv.ParseInt(f[1], 10, 64)
		st, err2 := strconv.ParseInt(f[3], 10, 64)
		en, err3 := strconv.ParseInt(f[4], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			s.t.Fatalf("bad run line %q", l)
		}
		runs = append(runs, haRun{f[0], tok, f[2], time.Unix(0, st), time.Unix(0, en)})
	}
	slices.SortFunc(runs, func(a, b haRun) int { return a.start.Compare(b.start) })
	return runs
}

// waitAllDelivered waits until every container started has a run.
func (s *haSet) waitAllDelivered(timeout time.Duration) []haRun {
	s.t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		runs := s.runs()
		seen := map[string]bool{}
		for _, r := range runs {
			seen[r.container] = true
		}
		s.mu.Lock()
		var missing []string
		for _, c := range s.started {
			if !seen[c] {
				missing = append(missing, c)
			}
		}
		s.mu.Unlock()
		if len(missing) == 0 {
			return runs
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("%d containers never delivered within %v: %v", len(missing), timeout, missing)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// checkRuns checks what holds in every HA test: no two runs of one
// delivery overlap in time, and fence tokens only grow in start order.
func checkRuns(t *testing.T, runs []haRun) {
	t.Helper()
	byCtr := map[string][]haRun{}
	var last int64
	for _, r := range runs {
		if r.token < last {
			t.Errorf("fence token went down: %d after %d (run %+v)", r.token, last, r)
		}
		last = max(last, r.token)
		for _, o := range byCtr[r.container] {
			if r.start.Before(o.end) && o.start.Before(r.end) {
				t.Errorf("two runs of the delivery of %s overlap: %+v and %+v", r.container, o, r)
			}
		}
		byCtr[r.container] = append(byCtr[r.container], r)
	}
}

func TestHALeaderSIGKILLedAStandbyDispatchesWithinTTLPlusOneSecondAndEveryTransitionIsDelivered(t *testing.T) {
	s := startHASet(t, 3)
	old := s.leader(3 * haTTL)
	s.startContainer("first")
	s.waitAllDelivered(30 * time.Second)

	stop := make(chan struct{})
	wg := s.churn(stop)
	time.Sleep(time.Second)
	killed := time.Now()
	s.replicas[old].stop(syscall.SIGKILL)
	time.Sleep(haTTL + 3*time.Second)
	close(stop)
	wg.Wait()
	runs := s.waitAllDelivered(30 * time.Second)
	checkRuns(t, runs)

	var first *haRun
	for i, r := range runs {
		if r.replica != old && r.start.After(killed) {
			first = &runs[i]
			break
		}
	}
	if first == nil {
		t.Fatal("no run on another replica after the leader was killed")
	}
	takeover := first.start.Sub(killed)
	t.Logf("takeover: leader %s SIGKILLed, first handler on %s after %v (token %d)", old, first.replica, takeover, first.token)
	if takeover > haTTL+time.Second {
		t.Errorf("takeover took %v, want at most TTL + 1s = %v", takeover, haTTL+time.Second)
	}
	for _, r := range runs {
		if r.replica == old && r.start.After(killed) {
			t.Errorf("the killed leader ran %+v", r)
		}
	}
}

func TestHALeaderSIGSTOPpedPastItsLeaseRunsNothingOnceAnotherLeads(t *testing.T) {
	s := startHASet(t, 3)
	old := s.leader(3 * haTTL)
	s.startContainer("first")
	s.waitAllDelivered(30 * time.Second)

	stop := make(chan struct{})
	wg := s.churn(stop)
	time.Sleep(time.Second)
	d := s.replicas[old]
	paused := time.Now()
	if err := d.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * haTTL)
	if err := d.cmd.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	d.waitLog(`"msg":"Stopped leading"`, 1, 5*time.Second)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	runs := s.waitAllDelivered(30 * time.Second)
	checkRuns(t, runs)

	// Once paused, the old leader starts nothing while another leads (it
	// may lead again later, with a greater token).
	var oldToken, newToken int64
	for _, r := range runs {
		if r.replica == old && !r.start.After(paused) {
			oldToken = r.token
		}
		if r.replica != old && r.start.After(paused) && newToken == 0 {
			newToken = r.token
		}
	}
	if newToken <= oldToken {
		t.Fatalf("no leadership with a greater token after the pause: old %d, new %d", oldToken, newToken)
	}
	for _, r := range runs {
		if r.replica == old && r.start.After(paused) && r.token <= newToken {
			t.Errorf("the paused leader ran %+v under token %d after another replica led with %d", r, r.token, newToken)
		}
	}
}

func TestHAOneEtcdMemberKilledChangesNothing(t *testing.T) {
	s := startHASet(t, 3)
	leader := s.leader(3 * haTTL)
	s.startContainer("first")
	s.waitAllDelivered(30 * time.Second)
	before := s.runs()[0].token

	stop := make(chan struct{})
	wg := s.churn(stop)
	time.Sleep(time.Second)
	etcdMember(t, "kill", 1)
	t.Cleanup(func() { etcdMember(t, "start", 1) })
	time.Sleep(3 * haTTL)
	close(stop)
	wg.Wait()
	runs := s.waitAllDelivered(30 * time.Second)
	checkRuns(t, runs)
	for _, r := range runs {
		if r.replica != leader || r.token != before {
			t.Errorf("run %+v: want every run on %s with token %d", r, leader, before)
		}
	}
	etcdMember(t, "start", 1)
}

func TestHAQuorumLostStopsTheLeaderWithinTTLThenItResumesAndLosesNothing(t *testing.T) {
	s := startHASet(t, 3)
	s.leader(3 * haTTL)
	s.startContainer("first")
	s.waitAllDelivered(30 * time.Second)

	stop := make(chan struct{})
	wg := s.churn(stop)
	time.Sleep(time.Second)
	etcdMember(t, "kill", 1)
	// Quorum is lost when the second of three members dies.
	lost := time.Now()
	etcdMember(t, "kill", 2)
	t.Cleanup(func() {
		etcdMember(t, "start", 1)
		etcdMember(t, "start", 2)
	})
	time.Sleep(3 * haTTL)
	restored := time.Now()
	etcdMember(t, "start", 1)
	etcdMember(t, "start", 2)
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	runs := s.waitAllDelivered(60 * time.Second)
	checkRuns(t, runs)
	for _, r := range runs {
		if r.start.After(lost.Add(haTTL)) && r.start.Before(restored) {
			t.Errorf("run %+v started more than TTL after quorum was lost, before it came back", r)
		}
	}
}

// TestHATakeoverMeasured measures the takeover (leader SIGKILL → first
// handler on the new leader) $EVENTSD_HA_TAKEOVERS times, the killed replica
// started again after each, and logs every time (docs/RELIABILITY.md).
func TestHATakeoverMeasured(t *testing.T) {
	n, _ := strconv.Atoi(os.Getenv("EVENTSD_HA_TAKEOVERS"))
	if n <= 0 {
		t.Skip("EVENTSD_HA_TAKEOVERS not set: a measurement, not a check")
	}
	s := startHASet(t, 3)
	stop := make(chan struct{})
	wg := s.churn(stop)
	defer func() { close(stop); wg.Wait() }()
	var times []time.Duration
	for i := range n {
		old := s.leader(5 * haTTL)
		time.Sleep(time.Second)
		killed := time.Now()
		s.replicas[old].stop(syscall.SIGKILL)
		deadline := time.Now().Add(5 * haTTL)
		var took time.Duration
		for took == 0 && time.Now().Before(deadline) {
			for _, r := range s.runs() {
				if r.replica != old && r.start.After(killed) {
					took = r.start.Sub(killed)
					break
				}
			}
			time.Sleep(10 * time.Millisecond)
		}
		if took == 0 {
			t.Fatalf("takeover %d: no handler on another replica within %v", i+1, 5*haTTL)
		}
		times = append(times, took)
		t.Logf("takeover %d: %s killed, %v", i+1, old, took)
		s.launch(old)
	}
	slices.Sort(times)
	t.Logf("takeovers (ttl %v, n=%d): min %v, median %v, max %v", haTTL, n, times[0], times[len(times)/2], times[len(times)-1])
	checkRuns(t, s.waitAllDelivered(60*time.Second))
}

// TestExampleFailoverHAFencesAnOlderLeader runs examples/failover/ha.yml on
// two replicas: the leader promotes the slave when the master dies, a new
// leader (after the first was SIGKILLed) demotes it with a greater token,
// and a promotion with the first leader's older token, as a deposed leader
// resuming late would make, is refused by the slave.
func TestExampleFailoverHAFencesAnOlderLeader(t *testing.T) {
	eps := strings.Split(haEtcd(t), ",")
	engines := testenv.Engines(t)
	img := testenv.Image(t)
	a, b := engines["a"], engines["b"]
	if len(eps) != 3 {
		t.Fatalf("EVENTSD_TEST_ETCD_CLUSTER = %v, want three endpoints", eps)
	}
	// The example's fixed prefix: nothing of an earlier run.
	if out, err := exec.Command("etcdctl", "--endpoints", strings.Join(eps, ","), "del", "--prefix", "/eventsd/failover/").CombinedOutput(); err != nil {
		t.Fatalf("etcdctl del: %v: %s", err, out)
	}
	dockerQuiet(a, "rm", "-f", "master")
	dockerQuiet(b, "rm", "-f", "slave")
	testenv.RunContainer(t, a, "master", img, "sleep", "86400")
	testenv.RunContainer(t, b, "slave", img, "sleep", "86400")
	slave := func(path string) []string {
		out := testenv.Docker(t, b, "exec", "slave", "sh", "-c", `cat "$1" 2>/dev/null || true`, "sh", path)
		if out == "" {
			return nil
		}
		return strings.Split(out, "\n")
	}
	fence := func() int64 {
		l := slave("/failover.fence")
		if len(l) == 0 {
			return 0
		}
		n, _ := strconv.ParseInt(l[0], 10, 64)
		return n
	}
	dir := exampleDir(t, "failover")
	env := []string{"ENGINE_A_URL=" + a, "ENGINE_B_URL=" + b, "ETCD_1=" + eps[0], "ETCD_2=" + eps[1], "ETCD_3=" + eps[2]}
	if docker := os.Getenv("EVENTSD_TEST_DOCKER"); docker != "" {
		env = append(env, "DOCKER="+docker)
	}
	s := &haSet{t: t, replicas: map[string]*daemon{}}
	start := func(id string) {
		s.replicas[id] = launchDaemon(t, filepath.Join(dir, "ha.yml"), t.TempDir(), dir, append(slices.Clone(env), "HOSTNAME="+id), 2)
	}
	start("r1")
	start("r2")
	first := s.leader(3 * haTTL)
	waitFor(t, 30*time.Second, "master-running at start-up", func() (bool, string) {
		return slices.ContainsFunc(slave("/failover.log"), func(l string) bool { return strings.Contains(l, "master back by master-running") }), ""
	})

	testenv.Docker(t, a, "kill", "master")
	waitFor(t, 30*time.Second, "promotion", func() (bool, string) { return len(slave("/promoted")) == 1, strings.Join(slave("/failover.log"), "\n") })
	t1 := fence()
	if t1 <= 0 {
		t.Fatalf("/failover.fence = %d after the promotion", t1)
	}

	s.replicas[first].stop(syscall.SIGKILL)
	delete(s.replicas, first)
	second := s.leader(3 * haTTL)
	testenv.Docker(t, a, "start", "master")
	waitFor(t, 30*time.Second, "demotion by the new leader", func() (bool, string) {
		return len(slave("/demoted")) == 1 && fence() > t1, fmt.Sprintf("fence %d; %s", fence(), strings.Join(slave("/failover.log"), "\n"))
	})

	// No daemon runs; the master dies; a late promotion with the first
	// leader's token comes: the slave refuses it.
	s.replicas[second].stop(syscall.SIGTERM)
	testenv.Docker(t, a, "kill", "master")
	cmd := exec.Command("./promote.sh")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "MASTER=master", "SLAVE=slave", "ENGINE_A="+a, "ENGINE_B="+b, "EVENTSD_RULE=master-died",
		"EVENT_ID=late-1", "EVENT_TYPE=container", "EVENT_ACTION=die", fmt.Sprintf("EVENTSD_FENCE_TOKEN=%d", t1))
	if docker := os.Getenv("EVENTSD_TEST_DOCKER"); docker != "" {
		cmd.Env = append(cmd.Env, "DOCKER="+docker)
	}
	out, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "refused") {
		t.Fatalf("late promotion with token %d: %v: %s", t1, err, out)
	}
	if p := slave("/promoted"); len(p) != 1 {
		t.Fatalf("/promoted after a refused promotion: %q", p)
	}
	t.Logf("the slave's /failover.log:\n%s", strings.Join(slave("/failover.log"), "\n"))
}

// TestHAShardModeAKilledReplicasEngineIsDispatchedAgainWithinTTLPlusTwoSeconds
// runs three replicas in shard mode on engines a and b, SIGKILLs the owner of
// engine a (the replica that ran its first event), and checks that a's
// events are dispatched by another replica within TTL + 2 s of the kill,
// none lost, no two runs of one overlapping, tokens (a's owner keys') only
// growing.
func TestHAShardModeAKilledReplicasEngineIsDispatchedAgainWithinTTLPlusTwoSeconds(t *testing.T) {
	eps := haEtcd(t)
	engines := testenv.Engines(t)
	s := &haSet{t: t, out: t.TempDir(), prefix: unique("shard"), replicas: map[string]*daemon{}, engine: engines["a"], img: testenv.Image(t)}
	cfg := fmt.Sprintf(`
cluster:
  a: %s
  b: %s
ha:
  etcd: {endpoints: [%s], prefix: /eventsd-e2e/%s/}
  ttl: %s
  mode: shard
  id: ${REPLICA}
events:
  - name: ha
    type: start
    from_container: '%s-*'
    command: '%s'
`, engines["a"], engines["b"], strings.ReplaceAll(eps, ",", ", "), s.prefix, haTTL, s.prefix, haCmd)
	s.path = filepath.Join(s.out, "events.yml")
	if err := os.WriteFile(s.path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	for i := 1; i <= 3; i++ {
		id := fmt.Sprintf("r%d", i)
		s.replicas[id] = launchDaemon(t, s.path, s.out, "", []string{"REPLICA=" + id}, 2)
	}
	// The owner of a: the replica that ran a's first event.
	s.startContainer("first")
	runs := s.waitAllDelivered(30 * time.Second)
	owner := runs[0].replica
	stop := make(chan struct{})
	wg := s.churn(stop)
	time.Sleep(time.Second)
	killed := time.Now()
	s.replicas[owner].stop(syscall.SIGKILL)
	time.Sleep(haTTL + 3*time.Second)
	close(stop)
	wg.Wait()
	runs = s.waitAllDelivered(30 * time.Second)
	checkRuns(t, runs) // every run is of engine a: its tokens grow
	var first *haRun
	for i, r := range runs {
		if r.replica != owner && r.start.After(killed) {
			first = &runs[i]
			break
		}
	}
	if first == nil {
		t.Fatal("engine a's events never dispatched again after its owner was killed")
	}
	took := first.start.Sub(killed)
	t.Logf("shard: owner %s of engine a SIGKILLed, a dispatched again by %s after %v", owner, first.replica, took)
	if took > haTTL+2*time.Second {
		t.Errorf("engine a dispatched again after %v, want at most TTL + 2s", took)
	}
}
