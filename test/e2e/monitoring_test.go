package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

// monitoringDir holds the Grafana dashboard and the Prometheus alert rules.
const monitoringDir = "../../examples/monitoring"

// Loopback ports of these tests (25000-25049 is theirs on the shared test
// machine).
const (
	metricsListen    = "127.0.0.1:25010"
	prometheusListen = "127.0.0.1:25011"
	scrapedListen    = "127.0.0.1:25012"
)

// monitoringConfig has one rule, so that the rules' series exist.
const monitoringConfig = `
cluster:
  a: %s
  b: %s
events:
  - name: started
    type: start
    command: "true"
`

// lookPath returns the path of prog, or skips the test (fails it in CI).
func lookPath(t *testing.T, prog string) string {
	t.Helper()
	p, err := exec.LookPath(prog)
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("%s not installed (Debian package prometheus; make test installs it)", prog)
		}
		t.Skipf("%s not installed (Debian package prometheus)", prog)
	}
	return p
}

func TestMonitoringAlertRulesPassPromtool(t *testing.T) {
	promtool := lookPath(t, "promtool")
	for _, args := range [][]string{
		{"check", "rules", "alerts.yml"},
		{"test", "rules", "alerts_test.yml"},
		{"check", "config", "prometheus.yml"},
	} {
		cmd := exec.Command(promtool, args...)
		cmd.Dir = monitoringDir
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Errorf("promtool %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	var dash struct {
		Panels []struct {
			Title   string
			Targets []struct{ Expr string }
		}
	}
	b, err := os.ReadFile(filepath.Join(monitoringDir, "dashboard.json"))
	if err == nil {
		err = json.Unmarshal(b, &dash)
	}
	if err != nil || len(dash.Panels) == 0 {
		t.Fatalf("dashboard.json: %v, %d panels", err, len(dash.Panels))
	}
	for _, p := range dash.Panels {
		if len(p.Targets) == 0 || p.Targets[0].Expr == "" {
			t.Errorf("dashboard panel %q has no query", p.Title)
		}
	}
}

// metricNames are the daemon's metrics the dashboard and the alerts use.
var metricNames = regexp.MustCompile(`\b(?:eventsd|workqueue)_[a-z_]+`)

// referencedMetrics returns the daemon's metric names the monitoring
// examples use.
func referencedMetrics(t *testing.T) []string {
	t.Helper()
	var names []string
	for _, f := range []string{"alerts.yml", "dashboard.json"} {
		b, err := os.ReadFile(filepath.Join(monitoringDir, f))
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, metricNames.FindAllString(string(b), -1)...)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// httpGet returns the status code and body of GET url.
func httpGet(t *testing.T, url string) (int, string) {
	t.Helper()
	cl := &http.Client{Timeout: 10 * time.Second}
	resp, err := cl.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitBody polls url until its body has every want, and returns it.
func waitBody(t *testing.T, url string, timeout time.Duration, want ...string) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		code, body := httpGet(t, url)
		if code == 200 && func() bool {
			for _, w := range want {
				if !strings.Contains(body, w) {
					return false
				}
			}
			return true
		}() {
			return body
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET %s after %v: %d, want %q in:\n%s", url, timeout, code, want, body)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestMetricsAndStatusOfARealEngine(t *testing.T) {
	engines := testenv.Engines(t)
	d := startDaemon(t, fmt.Sprintf(monitoringConfig, engines["a"], engines["b"]), 2, "--listen", metricsListen)
	name := unique("metrics")
	testenv.RunContainer(t, engines["a"], name, testenv.Image(t), "sleep", "30")

	base := "http://" + metricsListen
	body := waitBody(t, base+"/metrics", 30*time.Second,
		`eventsd_events_total{action="start",engine="a",type="container"}`,
		`eventsd_handler_runs_total{result="success",rule="started"} 1`,
		`eventsd_engine_up{engine="b"} 1`)
	for _, m := range referencedMetrics(t) {
		if !strings.Contains(body, m) {
			t.Errorf("the monitoring examples use %s, which /metrics does not serve", m)
		}
	}
	for _, p := range []string{"/healthz", "/readyz"} {
		if code, b := httpGet(t, base+p); code != 200 {
			t.Errorf("GET %s: %d %s, want 200", p, code, b)
		}
	}

	out, err := exec.Command(binary, "status", "--addr", metricsListen).CombinedOutput()
	if err != nil {
		t.Fatalf("status: %v\n%s", err, out)
	}
	for _, w := range []string{"ENGINE", engines["a"], "up", "RULE", "started", "Queue depth:", "Dead letters:"} {
		if !strings.Contains(string(out), w) {
			t.Errorf("status lacks %q:\n%s", w, out)
		}
	}
	out, err = exec.Command(binary, "status", "--addr", metricsListen, "-o", "json").Output()
	if err != nil {
		t.Fatalf("status -o json: %v", err)
	}
	var st struct {
		Engines []struct {
			Name, State, APIVersion string
			Containers              int
		}
	}
	if err := json.Unmarshal(out, &st); err != nil {
		t.Fatalf("status -o json: %v\n%s", err, out)
	}
	if len(st.Engines) != 2 || st.Engines[0].State != "up" || st.Engines[0].APIVersion == "" || st.Engines[0].Containers < 1 {
		t.Errorf("status -o json engines = %+v, want a and b up, a with its container and API version", st.Engines)
	}
	if code, _ := httpGet(t, base+"/debug/pprof/"); code != 404 {
		t.Errorf("GET /debug/pprof/ without --pprof: %d, want 404", code)
	}
	_ = d
}

func TestPrometheusScrapesTheDaemon(t *testing.T) {
	engines := testenv.Engines(t)
	prom := lookPath(t, "prometheus")
	startDaemon(t, fmt.Sprintf(monitoringConfig, engines["a"], engines["b"]), 2, "--listen", scrapedListen)

	dir := t.TempDir()
	rules, err := os.ReadFile(filepath.Join(monitoringDir, "alerts.yml"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf("global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nrule_files: [alerts.yml]\n"+
		"scrape_configs:\n  - job_name: docker-eventsd\n    static_configs:\n      - targets: [%q]\n", scrapedListen)
	for f, b := range map[string][]byte{"prometheus.yml": []byte(cfg), "alerts.yml": rules} {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cmd := exec.Command(prom, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+prometheusListen)
	var logs strings.Builder
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(30 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
		if t.Failed() {
			t.Logf("prometheus log:\n%s", logs.String())
		}
	})

	api := "http://" + prometheusListen + "/api/v1"
	body := waitBody(t, api+"/query?query=eventsd_engine_up", 60*time.Second, `"engine":"a"`, `"engine":"b"`)
	var res struct {
		Status string
		Data   struct {
			Result []struct {
				Metric map[string]string
				Value  []any
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &res); err != nil {
		t.Fatalf("query: %v\n%s", err, body)
	}
	for _, r := range res.Data.Result {
		if r.Metric["job"] != "docker-eventsd" || len(r.Value) != 2 || r.Value[1] != "1" {
			t.Errorf("eventsd_engine_up series %v = %v, want 1 from job docker-eventsd", r.Metric, r.Value)
		}
	}
	rulesBody := waitBody(t, api+"/rules", 30*time.Second, `"name":"EventsdEngineDown"`)
	if strings.Contains(rulesBody, `"health":"err"`) {
		t.Errorf("a rule of alerts.yml fails against the daemon's series:\n%s", rulesBody)
	}
}
