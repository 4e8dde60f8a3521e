package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

// ---------------------------------------------------------- mysql-failover

// The ports of the example's two servers (this suite's loopback range), and
// the accounts' passwords.
const (
	mariadbAPort = 24610
	mariadbBPort = 24611
	mariadbImage = "eventsd-mariadb:latest"
)

// mariadbEnv is the environment of the example's scripts and servers.
func mariadbEnv() []string {
	return []string{
		"MARIADB_A_PORT=" + strconv.Itoa(mariadbAPort), "MARIADB_B_PORT=" + strconv.Itoa(mariadbBPort),
		"MARIADB_ADMIN_PASSWORD=admin_pw", "MARIADB_REPL_PASSWORD=repl_pw", "MARIADB_APP_PASSWORD=app_pw",
	}
}

// mariadbNode is one server of the example, reached with the mariadb client.
type mariadbNode struct {
	name string // a or b: also its engine
	port int
}

// query runs sql on n as user (admin or app) and returns the rows without
// the column names, or the client's error.
func (n mariadbNode) query(user, sql string) (string, error) { return n.run(user, sql, "-N") }

// slaveStatus returns n's SHOW SLAVE STATUS, one "Name: value" a line.
func (n mariadbNode) slaveStatus() (string, error) {
	return n.run("admin", `SHOW SLAVE STATUS\G`, "-B")
}

// run runs sql on n as user with the client's option opt.
func (n mariadbNode) run(user, sql, opt string) (string, error) {
	pw := map[string]string{"admin": "admin_pw", "app": "app_pw"}[user]
	cmd := exec.Command("mariadb", "--protocol=tcp", "-h", "127.0.0.1", "-P", strconv.Itoa(n.port),
		"-u", user, "--connect-timeout=3", "-B", opt, "-e", sql)
	cmd.Env = append(os.Environ(), "MYSQL_PWD="+pw)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("%w: %s", err, strings.TrimSpace(string(out)))
	}
	return strings.TrimSpace(string(out)), nil
}

// must is query that fails the test on error.
func (n mariadbNode) must(t *testing.T, user, sql string) string {
	t.Helper()
	out, err := n.query(user, sql)
	if err != nil {
		t.Fatalf("node %s: %s: %v", n.name, sql, err)
	}
	return out
}

// startMariadb builds the image on the engine (offline, hack/mariadb-image.sh)
// and runs the node's server there, --network host on its port.
func startMariadb(t *testing.T, engineURL string, n mariadbNode, serverID int) {
	t.Helper()
	build := exec.Command("../../hack/mariadb-image.sh", mariadbImage)
	build.Env = append(os.Environ(), "DOCKER_HOST="+engineURL)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("hack/mariadb-image.sh on engine %s: %v\n%s", n.name, err, out)
	}
	name := "mariadb-" + n.name
	dockerQuiet(engineURL, "rm", "-f", name)
	args := []string{"run", "-d", "--network", "host", "--name", name,
		"-e", "MARIADB_PORT=" + strconv.Itoa(n.port), "-e", "MARIADB_SERVER_ID=" + strconv.Itoa(serverID)}
	for _, kv := range mariadbEnv()[2:] {
		args = append(args, "-e", kv)
	}
	testenv.Docker(t, engineURL, append(args, mariadbImage)...)
	t.Cleanup(func() {
		if t.Failed() {
			out, _ := exec.Command(dockerCLI(), "-H", engineURL, "logs", "--tail", "30", name).CombinedOutput()
			t.Logf("docker logs %s:\n%s", name, out)
		}
		dockerQuiet(engineURL, "rm", "-f", name)
	})
}

// TestExampleMySQLFailover runs examples/mysql-failover: MariaDB primary a on
// engine a, replica b on engine b, real GTID replication. The primary dies:
// b is promoted once, with every row written before; a comes back read-only,
// a replica of b. Then b's engine dies: a is promoted once, with every row;
// b comes back as a's replica. Each promotion is a row of
// failover.promotions, replicated: exactly one per loss.
func TestExampleMySQLFailover(t *testing.T) {
	engines := testenv.Engines(t)
	if _, err := exec.LookPath("mariadb"); err != nil {
		t.Fatal("the mariadb client is missing: apt-get install mariadb-server (hack/test.sh installs it)")
	}
	a, b := mariadbNode{"a", mariadbAPort}, mariadbNode{"b", mariadbBPort}
	startMariadb(t, engines["a"], a, 1)
	startMariadb(t, engines["b"], b, 2)
	dir := exampleDir(t, "mysql-failover")
	setup := exec.Command(filepath.Join(dir, "setup.sh"))
	setup.Env = append(os.Environ(), mariadbEnv()...)
	if out, err := setup.CombinedOutput(); err != nil {
		t.Fatalf("setup.sh: %v\n%s", err, out)
	}
	env := append(mariadbEnv(), "FAILOVER_LOCK="+filepath.Join(t.TempDir(), "failover.lock"))
	d := startExample(t, "mysql-failover", env...)

	rows := func(n mariadbNode) string { return n.must(t, "admin", "SELECT COUNT(*) FROM app.t") }
	promotions := func(n mariadbNode) string {
		return n.must(t, "admin", "SELECT GROUP_CONCAT(CONCAT(node, '<-', lost, ' by ', rule) ORDER BY id) FROM failover.promotions")
	}
	write := func(n mariadbNode, from, to int) {
		t.Helper()
		for i := from; i <= to; i++ {
			n.must(t, "app", fmt.Sprintf("INSERT INTO app.t VALUES (%d, 'row %d')", i, i))
		}
	}
	waitRows := func(n mariadbNode, want int) {
		t.Helper()
		waitFor(t, 60*time.Second, fmt.Sprintf("%d rows on node %s", want, n.name), func() (bool, string) {
			out, err := n.query("admin", "SELECT COUNT(*) FROM app.t")
			return err == nil && out == strconv.Itoa(want), fmt.Sprint(out, err)
		})
	}
	waitPromotions := func(n mariadbNode, want int) {
		t.Helper()
		waitFor(t, 60*time.Second, fmt.Sprintf("%d promotions seen on node %s", want, n.name), func() (bool, string) {
			out, err := n.query("admin", "SELECT COUNT(*) FROM failover.promotions")
			return err == nil && out == strconv.Itoa(want), fmt.Sprint(out, err, "\n", d.Logs())
		})
	}
	// waitReplica waits until n replicates from the primary p (both threads
	// running) and is read-only, and checks that it refuses the app's writes.
	waitReplica := func(n, p mariadbNode) {
		t.Helper()
		waitFor(t, 60*time.Second, fmt.Sprintf("node %s a replica of %s", n.name, p.name), func() (bool, string) {
			out, err := n.slaveStatus()
			ok := err == nil && strings.Contains(out, "Master_Port: "+strconv.Itoa(p.port)) &&
				strings.Contains(out, "Slave_IO_Running: Yes") && strings.Contains(out, "Slave_SQL_Running: Yes")
			return ok, fmt.Sprint(out, err)
		})
		if ro := n.must(t, "admin", "SELECT @@global.read_only"); ro != "1" {
			t.Errorf("node %s read_only = %s, want 1", n.name, ro)
		}
		if _, err := n.query("app", "INSERT INTO app.t VALUES (1000, 'refused')"); err == nil || !strings.Contains(err.Error(), "read-only") {
			t.Errorf("a write on the replica %s: %v; want refused, read-only", n.name, err)
		}
	}
	// ran waits until rule has run n times (handler or state rule) per the log.
	ran := func(rule string, n int) {
		t.Helper()
		waitFor(t, 60*time.Second, fmt.Sprintf("%d runs of %s", n, rule), func() (bool, string) {
			got := 0
			for _, l := range strings.Split(d.Logs(), "\n") {
				if strings.Contains(l, `"rule":"`+rule+`"`) && (strings.Contains(l, `"msg":"Handler succeeded"`) || strings.Contains(l, `"msg":"State rule ran"`)) {
					got++
				}
			}
			return got >= n, strconv.Itoa(got)
		})
	}

	// At start-up: a primary, b its replica; rejoin.sh finds nothing to do.
	ran("mariadb-a-running", 1)
	ran("mariadb-b-running", 1)
	waitReplica(b, a)

	// 1. The primary's process dies.
	write(a, 1, 3)
	waitRows(b, 3)
	testenv.Docker(t, engines["a"], "kill", "mariadb-a")
	waitPromotions(b, 1)
	ran("mariadb-died", 1)
	ran("mariadb-a-lost", 1) // both ran; one promoted
	if got := rows(b); got != "3" {
		t.Errorf("rows on the new primary b: %s, want 3", got)
	}
	write(b, 4, 4)
	testenv.Docker(t, engines["a"], "start", "mariadb-a")
	waitReplica(a, b)
	waitRows(a, 4)
	if got := promotions(b); got != "b<-a by mariadb-died" && got != "b<-a by mariadb-a-lost" {
		t.Errorf("promotions after the primary died: %q, want one, of b", got)
	}

	// 2. The primary's engine dies (b's now): no die event, the state rule
	// promotes a once engine b has been down for its grace.
	write(b, 5, 6)
	waitRows(a, 6)
	testenv.KillEngine(t, "b")
	waitPromotions(a, 2)
	if got := rows(a); got != "6" {
		t.Errorf("rows on the new primary a: %s, want 6", got)
	}
	write(a, 7, 7)
	testenv.StartEngine(t, "b")
	// The engine is back with mariadb-b stopped: its synthesized die reaches
	// mariadb-died, which must not promote again.
	ran("mariadb-died", 2)
	testenv.Docker(t, engines["b"], "start", "mariadb-b")
	waitReplica(b, a)
	waitRows(b, 7)
	ps := promotions(a)
	if n := strings.Count(ps, ",") + 1; n != 2 || !strings.HasPrefix(strings.SplitN(ps, ",", 2)[1], "a<-b by mariadb-b-lost") {
		t.Errorf("promotions: %q; want two: b<-a, then a<-b by mariadb-b-lost", ps)
	}
	if got := b.must(t, "admin", "SELECT COUNT(*) FROM failover.promotions"); got != "2" {
		t.Errorf("promotions replicated to b: %s, want 2", got)
	}
	d.stop(syscall.SIGTERM)
	t.Logf("promotions: %s", ps)
}
