package e2e

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

// The examples of examples/, run as a user runs them: the daemon on the
// example's own events.yml, in the example's directory (its handlers are
// ./scripts), with the engine URLs given by ENGINE_A_URL and ENGINE_B_URL.

// examplesDir is examples/, from this package's directory.
const examplesDir = "../../examples"

// exampleDir returns the absolute path of examples/name.
func exampleDir(t *testing.T, name string) string {
	t.Helper()
	dir, err := filepath.Abs(filepath.Join(examplesDir, name))
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

// startExample runs the daemon on examples/name/events.yml, in that
// directory, on the test engines a and b, with env added to its environment.
func startExample(t *testing.T, name string, env ...string) *daemon {
	t.Helper()
	engines := testenv.Engines(t)
	dir := exampleDir(t, name)
	env = append([]string{"ENGINE_A_URL=" + engines["a"], "ENGINE_B_URL=" + engines["b"]}, env...)
	if docker := os.Getenv("EVENTSD_TEST_DOCKER"); docker != "" {
		env = append(env, "DOCKER="+docker) // the handlers' docker CLI
	}
	return launchDaemon(t, filepath.Join(dir, "events.yml"), t.TempDir(), dir, env, 2)
}

// waitFor polls cond until it holds, or fails the test after timeout with
// what, and the last state described by cond.
func waitFor(t *testing.T, timeout time.Duration, what string, cond func() (bool, string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		ok, state := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v; last: %s", what, timeout, state)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestExamplesValidate(t *testing.T) {
	files, err := filepath.Glob(filepath.Join(examplesDir, "*", "events.yml"))
	if err != nil || len(files) < 3 {
		t.Fatalf("example configs: %v %v", files, err)
	}
	for _, f := range files {
		t.Run(filepath.Base(filepath.Dir(f)), func(t *testing.T) {
			out, err := exec.Command(binary, "validate", f).CombinedOutput()
			if err != nil {
				t.Fatalf("validate %s: %v\n%s", f, err, out)
			}
			if _, err := os.Stat(filepath.Join(filepath.Dir(f), "README.md")); err != nil {
				t.Errorf("example without README: %v", err)
			}
		})
	}
}

// ---------------------------------------------------------------- failover

// TestExampleFailover runs examples/failover: master on engine a, slave on
// engine b. Each loss of the master promotes the slave exactly once (one line
// in the slave's /promoted), whether the master died (both the event rule and
// the state rule run; one promotes), its engine was killed (no event: the
// state rule does it), or it died while the daemon was not running (the state
// rule at start-up). Each return of the master demotes it once.
func TestExampleFailover(t *testing.T) {
	engines := testenv.Engines(t)
	img := testenv.Image(t)
	a, b := engines["a"], engines["b"]
	// The example names its containers master and slave: remove leftovers.
	dockerQuiet(a, "rm", "-f", "master")
	dockerQuiet(b, "rm", "-f", "slave")
	testenv.RunContainer(t, a, "master", img, "sleep", "86400")
	testenv.RunContainer(t, b, "slave", img, "sleep", "86400")

	lines := func(path string) []string {
		out := testenv.Docker(t, b, "exec", "slave", "sh", "-c", `cat "$1" 2>/dev/null || true`, "sh", path)
		if out == "" {
			return nil
		}
		return strings.Split(out, "\n")
	}
	count := func(path, substr string) int {
		n := 0
		for _, l := range lines(path) {
			if strings.Contains(l, substr) {
				n++
			}
		}
		return n
	}
	// waitLog waits until the slave's /failover.log has at least n lines
	// holding each of the given strings.
	waitLog := func(timeout time.Duration, want map[string]int) {
		t.Helper()
		waitFor(t, timeout, fmt.Sprintf("/failover.log with %v", want), func() (bool, string) {
			for s, n := range want {
				if count("/failover.log", s) < n {
					return false, strings.Join(lines("/failover.log"), "\n")
				}
			}
			return true, ""
		})
	}
	expect := func(when string, promoted, demoted int) {
		t.Helper()
		p, d := lines("/promoted"), lines("/demoted")
		if len(p) != promoted || len(d) != demoted {
			t.Fatalf("%s: %d promotions, %d demotions; want %d and %d\n/promoted:\n%s\n/demoted:\n%s\n/failover.log:\n%s",
				when, len(p), len(d), promoted, demoted, strings.Join(p, "\n"), strings.Join(d, "\n"),
				strings.Join(lines("/failover.log"), "\n"))
		}
	}

	d := startExample(t, "failover")
	// At start-up the master runs: master-running finds nothing to undo.
	waitLog(30*time.Second, map[string]int{"master back by master-running": 1})
	expect("at start-up", 0, 0)

	// 1. The master dies: the event rule and the state rule both run, and
	// the slave is promoted once.
	testenv.Docker(t, a, "kill", "master")
	waitLog(30*time.Second, map[string]int{"promote by master-died": 1, "promote by master-lost": 1})
	expect("after the master died", 1, 0)

	// The master is back: demoted once, by one of the two rules.
	testenv.Docker(t, a, "start", "master")
	waitLog(30*time.Second, map[string]int{"master back by master-started": 1, "master back by master-running": 2})
	expect("after the master came back", 1, 1)

	// 2. The master's engine dies: no event, the state rule promotes once
	// the engine has been down for engine_down_grace (5s).
	testenv.KillEngine(t, "a")
	waitFor(t, 40*time.Second, "promotion after engine a was killed", func() (bool, string) {
		return len(lines("/promoted")) >= 2, strings.Join(lines("/failover.log"), "\n")
	})
	if p := lines("/promoted"); !strings.Contains(p[1], "master-lost") {
		t.Errorf("promotion after the engine died: %q, want one by master-lost", p[1])
	}
	// The engine comes back with the master stopped: its die reaches the
	// event rule now, which must not promote again.
	testenv.StartEngine(t, "a")
	waitLog(60*time.Second, map[string]int{"promote by master-died": 2})
	expect("after engine a came back", 2, 1)
	testenv.Docker(t, a, "start", "master")
	waitFor(t, 30*time.Second, "demotion after the master came back", func() (bool, string) {
		return len(lines("/demoted")) >= 2, strings.Join(lines("/failover.log"), "\n")
	})

	// 3. The master dies while the daemon is not running: the state rule
	// promotes at start-up.
	d.stop(syscall.SIGTERM)
	testenv.Docker(t, a, "kill", "master")
	startExample(t, "failover")
	waitFor(t, 30*time.Second, "promotion at start-up", func() (bool, string) {
		return len(lines("/promoted")) >= 3, strings.Join(lines("/failover.log"), "\n")
	})
	if p := lines("/promoted"); !strings.Contains(p[2], "master-lost") {
		t.Errorf("promotion at start-up: %q, want one by master-lost", p[2])
	}
	expect("at the end", 3, 2)
	t.Logf("the slave's /failover.log:\n%s", strings.Join(lines("/failover.log"), "\n"))
}

// dockerQuiet runs the docker CLI against engineURL and ignores the outcome.
func dockerQuiet(engineURL string, args ...string) {
	docker := os.Getenv("EVENTSD_TEST_DOCKER")
	if docker == "" {
		docker = "docker"
	}
	_ = exec.Command(docker, append([]string{"-H", engineURL}, args...)...).Run()
}

// ---------------------------------------------------------------- loadbalancer

// TestExampleLoadBalancer runs examples/loadbalancer: nginx from Debian on a
// loopback port, with backends (busybox httpd, --network host) started,
// paused and stopped on both engines. Through nginx, traffic reaches exactly
// the running backends, and nginx answers 503 when none runs.
func TestExampleLoadBalancer(t *testing.T) {
	engines := testenv.Engines(t)
	nginx := findNginx(t)
	dir := exampleDir(t, "loadbalancer")

	// nginx in its own directory, on the example's nginx.conf with a free
	// port, and the empty set rendered first, as in the README.
	nginxDir := t.TempDir()
	conf, err := os.ReadFile(filepath.Join(dir, "nginx.conf"))
	if err != nil {
		t.Fatal(err)
	}
	const listen = "listen 127.0.0.1:18080;"
	if !strings.Contains(string(conf), listen) {
		t.Fatalf("examples/loadbalancer/nginx.conf has no %q", listen)
	}
	port := freePort(t)
	conf = []byte(strings.Replace(string(conf), listen, fmt.Sprintf("listen 127.0.0.1:%d;", port), 1))
	if err := os.WriteFile(filepath.Join(nginxDir, "nginx.conf"), conf, 0o644); err != nil {
		t.Fatal(err)
	}
	env := []string{"NGINX_DIR=" + nginxDir, "NGINX=" + nginx}
	render := exec.Command(filepath.Join(dir, "render-upstreams.sh"))
	render.Dir, render.Env, render.Stdin = dir, append(os.Environ(), env...), strings.NewReader("[]\n")
	if out, err := render.CombinedOutput(); err != nil {
		t.Fatalf("render-upstreams.sh with no backend: %v\n%s", err, out)
	}
	startNginx(t, nginx, nginxDir)
	url := fmt.Sprintf("http://127.0.0.1:%d/", port)
	waitBackends(t, url) // 503: nothing runs

	startExample(t, "loadbalancer", env...)
	web1, web2, web3 := unique("web1"), unique("web2"), unique("web3")
	startBackend(t, engines["a"], web1)
	startBackend(t, engines["b"], web2)
	waitBackends(t, url, web1, web2)
	startBackend(t, engines["a"], web3)
	waitBackends(t, url, web1, web2, web3)

	// A paused backend still has its port open, but would never answer:
	// only the config can keep traffic away from it.
	testenv.Docker(t, engines["b"], "pause", web2)
	waitBackends(t, url, web1, web3)
	testenv.Docker(t, engines["b"], "unpause", web2)
	waitBackends(t, url, web1, web2, web3)

	testenv.Docker(t, engines["a"], "stop", web1)
	waitBackends(t, url, web2, web3)
	testenv.Docker(t, engines["b"], "stop", web2)
	testenv.Docker(t, engines["a"], "stop", web3)
	waitBackends(t, url) // 503 again
	testenv.Docker(t, engines["a"], "start", web1)
	waitBackends(t, url, web1)
}

// findNginx returns the nginx binary, or skips the test (fails it in CI).
func findNginx(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nginx"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx"
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("no nginx: .ci/run installs nginx-light")
	}
	t.Skip("no nginx (apt-get install nginx-light)")
	return ""
}

// startNginx runs nginx in the foreground on dir/nginx.conf, with dir as its
// prefix, until the test ends.
func startNginx(t *testing.T, nginx, dir string) {
	t.Helper()
	cmd := exec.Command(nginx, "-p", dir, "-c", filepath.Join(dir, "nginx.conf"), "-g", "daemon off;")
	var out strings.Builder
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		_ = cmd.Wait()
		close(done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // fast shutdown, workers included
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			log, _ := os.ReadFile(filepath.Join(dir, "error.log"))
			backends, _ := os.ReadFile(filepath.Join(dir, "backends.conf"))
			t.Logf("nginx output:\n%s\nerror.log:\n%s\nbackends.conf:\n%s", out.String(), log, backends)
		}
	})
}

// startBackend runs a web backend on the engine: busybox httpd on a free
// port of the host (--network host), answering its name, labelled lb=web and
// lb.port=PORT.
func startBackend(t *testing.T, engineURL, name string) {
	t.Helper()
	port := strconv.Itoa(freePort(t))
	id := testenv.Docker(t, engineURL, "run", "-d", "--init", "--network", "host", "--name", name,
		"--label", "lb=web", "--label", "lb.port="+port, "-e", "NAME="+name, "-e", "PORT="+port,
		testenv.Image(t), "sh", "-c", `mkdir -p /www && echo "$NAME" > /www/index.html && exec httpd -f -p "127.0.0.1:$PORT" -h /www`)
	t.Cleanup(func() { dockerQuiet(engineURL, "rm", "-f", id) })
}

// freePort returns a TCP port free on 127.0.0.1 now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// waitBackends waits until a round of requests through the load balancer at
// url is answered by exactly the backends want, every request with 200 and
// every backend at least once; with no backend, every request with 503.
func waitBackends(t *testing.T, url string, want ...string) {
	t.Helper()
	const requests = 30
	client := &http.Client{
		Timeout:   3 * time.Second,
		Transport: &http.Transport{DisableKeepAlives: true}, // each request on its own connection
	}
	slices.Sort(want)
	waitFor(t, 30*time.Second, fmt.Sprintf("traffic through nginx reaching exactly %v", want), func() (bool, string) {
		seen := map[string]int{}
		for i := 0; i < requests; i++ {
			resp, err := client.Get(url)
			if err != nil {
				return false, err.Error()
			}
			body, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil {
				return false, err.Error()
			}
			switch {
			case len(want) == 0 && resp.StatusCode != http.StatusServiceUnavailable:
				return false, fmt.Sprintf("status %d, want 503: %q", resp.StatusCode, body)
			case len(want) > 0 && resp.StatusCode != http.StatusOK:
				return false, fmt.Sprintf("status %d, want 200: %q", resp.StatusCode, body)
			case len(want) > 0:
				seen[strings.TrimSpace(string(body))]++
			}
		}
		got := make([]string, 0, len(seen))
		for name := range seen {
			got = append(got, name)
		}
		slices.Sort(got)
		return slices.Equal(got, want), fmt.Sprintf("answers %v", seen)
	})
}

// ---------------------------------------------------------------- report

// TestExampleReport runs examples/report: report.csv and report.json follow
// containers started, stopped and removed on both engines; the containers of
// a killed engine become unknown after engine_down_grace (2s); events.log has
// a line per event.
func TestExampleReport(t *testing.T) {
	engines := testenv.Engines(t)
	img := testenv.Image(t)
	out := t.TempDir()
	startExample(t, "report", "REPORT_DIR="+out)

	running, onB, exited := unique("rep-run"), unique("rep-onb"), unique("rep-exit")
	testenv.RunContainer(t, engines["a"], running, img, "sleep", "600")
	testenv.RunContainer(t, engines["b"], onB, img, "sleep", "600")
	testenv.RunContainer(t, engines["a"], exited, img, "sh", "-c", "exit 3")
	waitReport(t, out, map[string]string{
		running: "a running running 0",
		onB:     "b running running 0",
		exited:  "a exited exited 3",
	})

	testenv.Docker(t, engines["a"], "kill", running)
	testenv.Docker(t, engines["a"], "rm", exited)
	waitReport(t, out, map[string]string{
		running: "a exited exited 137",
		onB:     "b running running 0",
		exited:  "",
	})

	// Engine b dies: after the grace its containers are unknown, with their
	// last known state.
	testenv.KillEngine(t, "b")
	waitReport(t, out, map[string]string{
		running: "a exited exited 137",
		onB:     "b unknown running 0",
	})

	// report.json holds the same set, with counts per engine.
	data, err := os.ReadFile(filepath.Join(out, "report.json"))
	if err != nil {
		t.Fatal(err)
	}
	var report struct {
		Count      int                       `json:"count"`
		Hash       string                    `json:"hash"`
		Engines    map[string]map[string]int `json:"engines"`
		Containers []struct {
			Name, Engine, Status, State string
		} `json:"containers"`
	}
	if err := json.Unmarshal(data, &report); err != nil {
		t.Fatalf("report.json: %v\n%s", err, data)
	}
	total := 0
	for _, byStatus := range report.Engines {
		for _, n := range byStatus {
			total += n
		}
	}
	if report.Count != len(report.Containers) || total != report.Count || report.Hash == "" {
		t.Errorf("report.json: count %d, %d containers, %d in engines, hash %q", report.Count, len(report.Containers), total, report.Hash)
	}
	if report.Engines["b"]["unknown"] < 1 {
		t.Errorf("report.json engines = %v, want b with unknown containers", report.Engines)
	}
	found := false
	for _, c := range report.Containers {
		if c.Name == onB {
			found = c.Engine == "b" && c.Status == "unknown" && c.State == "running"
		}
	}
	if !found {
		t.Errorf("report.json has no %s on b, unknown, last running:\n%s", onB, data)
	}

	// events.log: one line per event, engine outages included.
	waitFor(t, 10*time.Second, "events.log", func() (bool, string) {
		log, _ := os.ReadFile(filepath.Join(out, "events.log"))
		for _, want := range []string{
			" a start " + running + " ",
			" b start " + onB + " ",
			" a die " + running + " exit=137 ",
			" a die " + exited + " exit=3 ",
			" a destroy " + exited + " ",
			" b engine_down - synthetic ",
		} {
			if !strings.Contains(string(log), want) {
				return false, fmt.Sprintf("no %q in:\n%s", want, log)
			}
		}
		return true, ""
	})
}

// waitReport waits until report.csv in dir has, for each container name, the
// row "ENGINE STATUS STATE EXIT_CODE", or no row when the want is "".
func waitReport(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	waitFor(t, 30*time.Second, fmt.Sprintf("report.csv with %v", want), func() (bool, string) {
		f, err := os.Open(filepath.Join(dir, "report.csv"))
		if err != nil {
			return false, err.Error()
		}
		defer f.Close()
		records, err := csv.NewReader(f).ReadAll()
		if err != nil || len(records) == 0 {
			return false, fmt.Sprintf("report.csv: %v", err)
		}
		col := map[string]int{}
		for i, h := range records[0] {
			col[h] = i
		}
		got := map[string]string{}
		for _, r := range records[1:] {
			got[r[col["name"]]] = strings.Join([]string{r[col["engine"]], r[col["status"]], r[col["state"]], r[col["exit_code"]]}, " ")
		}
		for name, w := range want {
			if got[name] != w {
				return false, fmt.Sprintf("%s: %q, want %q", name, got[name], w)
			}
		}
		return true, ""
	})
}
