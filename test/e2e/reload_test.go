package e2e

import (
	"bytes"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	neturl "net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

// requestCounter is an HTTP proxy in front of a real engine that counts the
// requests it forwards by path: the connections (event streams) and the
// lists the daemon asked of the engine.
type requestCounter struct {
	mu     sync.Mutex
	counts map[string]int
	url    string
}

// newRequestCounter proxies engineURL (tcp://host:port) on a loopback port
// until the test ends.
func newRequestCounter(t *testing.T, engineURL string) *requestCounter {
	t.Helper()
	target, err := neturl.Parse(strings.Replace(engineURL, "tcp://", "http://", 1))
	if err != nil {
		t.Fatal(err)
	}
	rc := &requestCounter{counts: map[string]int{}}
	proxy := httputil.NewSingleHostReverseProxy(target)
	proxy.FlushInterval = -1 // the event stream goes through at once
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// /v1.41/events, /v1.41/containers/json: the path without its version.
		p := r.URL.Path
		if i := strings.Index(p[1:], "/"); strings.HasPrefix(p, "/v") && i > 0 {
			p = p[i+1:]
		}
		rc.mu.Lock()
		rc.counts[p]++
		rc.mu.Unlock()
		proxy.ServeHTTP(w, r)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	rc.url = "tcp://" + ln.Addr().String()
	return rc
}

// count returns how many requests of path (/events, /containers/json) were
// forwarded.
func (rc *requestCounter) count(path string) int {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return rc.counts[path]
}

// reloadConfig is the config of the reload tests: engine a (through the
// counter), the cluster's other engines as given, the rule "started" whose
// command exports RELOAD_VERSION=version, then extra rules.
func reloadConfig(a string, others map[string]string, version, extra string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "cluster:\n  a: %s\n", a)
	for name, url := range others {
		fmt.Fprintf(&b, "  %s: %s\n", name, url)
	}
	fmt.Fprintf(&b, `events:
  - name: started
    type: start
    command: 'export RELOAD_VERSION=%s; %s'
%s`, version, recordCmd, extra)
	return b.String()
}

// rewrite writes src over path, as an editor does: a new file renamed over
// the old one.
func rewrite(t *testing.T, path, src string) {
	t.Helper()
	tmp := filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

func TestSIGHUPReloadChangesACommandAddsARuleAndAnEngineAndRemovesOne(t *testing.T) {
	engines := testenv.Engines(t)
	image := testenv.Image(t)
	a := newRequestCounter(t, engines["a"])
	doomed := fmt.Sprintf(`  - name: doomed
    type: start
    command: '%s'
`, recordCmd)
	// Engine b is "old" first, then "new": removed, and added under
	// another name.
	// The default heartbeat (not the tests' 500 ms): a ping slowed by a busy
	// machine would reconnect engine a for another reason than the reload.
	d := startDaemon(t, reloadConfig(a.url, map[string]string{"old": engines["b"]}, "v1", doomed), 2, "--watch-config=false",
		"--heartbeat", "5s", "--heartbeat-timeout", "2s")
	first := testenv.RunContainer(t, engines["a"], unique("before"), image, "true")
	d.waitRun("started", map[string]string{"CONTAINER_ID": first, "RELOAD_VERSION": "v1"}, 30*time.Second)
	d.waitRun("doomed", map[string]string{"CONTAINER_ID": first}, 30*time.Second)
	streams, lists := a.count("/events"), a.count("/containers/json")
	if streams != 1 || lists != 1 {
		t.Fatalf("engine a served %d event streams and %d lists before the reload, want 1 and 1", streams, lists)
	}

	added := fmt.Sprintf(`  - name: added
    type: start
    command: '%s'
`, recordCmd)
	path := filepath.Join(d.Dir, "events.yml")
	rewrite(t, path, reloadConfig(a.url, map[string]string{"new": engines["b"]}, "v2", added))
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog(`"msg":"Config reloaded"`, 1, 30*time.Second)
	d.waitLog(`"msg":"Engine in sync","engine":"new"`, 1, 30*time.Second)
	logs := d.Logs()
	for _, want := range []string{
		`"msg":"Reload: rule changed","kind":"rule","rule":"started"`,
		`"msg":"Reload: rule added","kind":"rule","rule":"added"`,
		`"msg":"Reload: rule removed","kind":"rule","rule":"doomed"`,
		`"msg":"Removed engine","engine":"old"`,
		`"msg":"Added engine","engine":"new"`,
		`"enginesAdded":1,"enginesReplaced":0,"enginesRemoved":1,"enginesUnchanged":1`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the reload's log lacks %s", want)
		}
	}

	onA := testenv.RunContainer(t, engines["a"], unique("after"), image, "true")
	onB := testenv.RunContainer(t, engines["b"], unique("after-b"), image, "true")
	d.waitRun("started", map[string]string{"CONTAINER_ID": onA, "RELOAD_VERSION": "v2", "FROM_ENGINE": "a"}, 30*time.Second)
	d.waitRun("added", map[string]string{"CONTAINER_ID": onA}, 30*time.Second)
	d.waitRun("started", map[string]string{"CONTAINER_ID": onB, "RELOAD_VERSION": "v2", "FROM_ENGINE": "new"}, 30*time.Second)
	time.Sleep(500 * time.Millisecond) // a wrong run would show now
	for _, bad := range []struct {
		rule string
		env  map[string]string
	}{
		{"doomed", map[string]string{"CONTAINER_ID": onA}},
		{"started", map[string]string{"CONTAINER_ID": onA, "RELOAD_VERSION": "v1"}},
		{"started", map[string]string{"FROM_ENGINE": "old", "CONTAINER_ID": onB}},
		{"started", map[string]string{"CONTAINER_ID": first, "RELOAD_VERSION": "v2"}},
	} {
		if n := d.countRuns(bad.rule, bad.env); n != 0 {
			t.Errorf("%s ran %d times with %v after the reload, want 0", bad.rule, n, bad.env)
		}
	}
	// The unchanged engine kept its connection: no new stream, no relist.
	if s, l := a.count("/events"), a.count("/containers/json"); s != streams || l != lists {
		t.Errorf("engine a served %d event streams and %d lists after the reload, want %d and %d (no reconnect, no relist)", s, l, streams, lists)
	}
}

func TestInvalidReloadIsRefusedAndTheOldRulesKeepFiring(t *testing.T) {
	engines := testenv.Engines(t)
	image := testenv.Image(t)
	const listen = "127.0.0.1:24201"
	d := startDaemon(t, reloadConfig(engines["a"], nil, "v1", ""), 1, "--listen", listen, "--watch-config=false")
	path := filepath.Join(d.Dir, "events.yml")
	// Two errors: an unknown field at 7:5, an unknown engine at 10:18.
	rewrite(t, path, reloadConfig(engines["a"], nil, "v2", `    tyop: die
  - name: other
    type: start
    from_engine: nowhere
    command: "true"
`))
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog(`"msg":"Config reload refused, the running config stays in force"`, 1, 30*time.Second)
	logs := d.Logs()
	for _, want := range []string{
		`"msg":"Config reload refused: invalid config","file":"` + path + `","line":7,"col":5,"field":"events[0].tyop"`,
		`"msg":"Config reload refused: invalid config","file":"` + path + `","line":10,"col":18,"field":"events[1].from_engine"`,
		`"msg":"Config reload refused, the running config stays in force","errors":2`,
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("the refusal's log lacks %s", want)
		}
	}
	waitBody(t, "http://"+listen+"/metrics", 30*time.Second, "eventsd_config_reload_success 0")

	id := testenv.RunContainer(t, engines["a"], unique("refused"), image, "true")
	d.waitRun("started", map[string]string{"CONTAINER_ID": id, "RELOAD_VERSION": "v1"}, 30*time.Second)

	// A good file: applied, and the gauge is back to 1.
	rewrite(t, path, reloadConfig(engines["a"], nil, "v3", ""))
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog(`"msg":"Config reloaded"`, 1, 30*time.Second)
	waitBody(t, "http://"+listen+"/metrics", 30*time.Second, "eventsd_config_reload_success 1")
	id = testenv.RunContainer(t, engines["a"], unique("fixed"), image, "true")
	d.waitRun("started", map[string]string{"CONTAINER_ID": id, "RELOAD_VERSION": "v3"}, 30*time.Second)
}

func TestConfigFileRenamedOverOrSwappedAsAConfigMapReloadsWithoutSIGHUP(t *testing.T) {
	engines := testenv.Engines(t)
	image := testenv.Image(t)
	out := t.TempDir()
	// The kubelet's layout: events.yml -> ..data/events.yml, ..data -> a
	// timestamped directory; an update swaps ..data.
	dir := filepath.Join(out, "configmap")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	swap := func(name, src string) {
		t.Helper()
		if err := os.Mkdir(filepath.Join(dir, name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name, "events.yml"), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(name, filepath.Join(dir, "..data_tmp")); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			t.Fatal(err)
		}
	}
	swap("..2026_01_01_00_00_00.1", reloadConfig(engines["a"], nil, "v1", ""))
	path := filepath.Join(dir, "events.yml")
	if err := os.Symlink("..data/events.yml", path); err != nil {
		t.Fatal(err)
	}
	d := launchDaemon(t, path, out, "", nil, 1)
	d.waitLog(`"msg":"Watching the config file"`, 1, 10*time.Second)

	swap("..2026_01_01_00_01_00.2", reloadConfig(engines["a"], nil, "v2", ""))
	if err := os.RemoveAll(filepath.Join(dir, "..2026_01_01_00_00_00.1")); err != nil {
		t.Fatal(err)
	}
	d.waitLog(`"msg":"Config file changed, reloaded"`, 1, 30*time.Second)
	id := testenv.RunContainer(t, engines["a"], unique("configmap"), image, "true")
	d.waitRun("started", map[string]string{"CONTAINER_ID": id, "RELOAD_VERSION": "v2"}, 30*time.Second)

	// Replaced by a rename, as editors do: ..data itself is a file now.
	if err := os.Remove(path); err != nil {
		t.Fatal(err)
	}
	rewrite(t, path, reloadConfig(engines["a"], nil, "v3", ""))
	d.waitLog(`"msg":"Config file changed, reloaded"`, 2, 30*time.Second)
	id = testenv.RunContainer(t, engines["a"], unique("renamed"), image, "true")
	d.waitRun("started", map[string]string{"CONTAINER_ID": id, "RELOAD_VERSION": "v3"}, 30*time.Second)
	if n := strings.Count(d.Logs(), `"msg":"Reload requested"`); n != 0 {
		t.Errorf("%d SIGHUPs: the test sent none", n)
	}
}

func TestWatchConfigFalseDoesNotReloadOnAChangeButSIGHUPDoes(t *testing.T) {
	engines := testenv.Engines(t)
	image := testenv.Image(t)
	d := startDaemon(t, reloadConfig(engines["a"], nil, "v1", ""), 1, "--watch-config=false")
	path := filepath.Join(d.Dir, "events.yml")
	rewrite(t, path, reloadConfig(engines["a"], nil, "v2", ""))
	time.Sleep(time.Second) // 10 times the watcher's settle time
	id := testenv.RunContainer(t, engines["a"], unique("unwatched"), image, "true")
	d.waitRun("started", map[string]string{"CONTAINER_ID": id, "RELOAD_VERSION": "v1"}, 30*time.Second)
	if strings.Contains(d.Logs(), `"msg":"Watching the config file"`) || strings.Contains(d.Logs(), `"msg":"Config reloaded"`) {
		t.Error("--watch-config=false: the file was watched")
	}
	if err := d.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	d.waitLog(`"msg":"Config reloaded"`, 1, 30*time.Second)
	id = testenv.RunContainer(t, engines["a"], unique("hup"), image, "true")
	d.waitRun("started", map[string]string{"CONTAINER_ID": id, "RELOAD_VERSION": "v2"}, 30*time.Second)
}

// A SIGHUP sent while the daemon starts (right after "Starting", before it
// listens to events) never stops it: it reloads once the daemon is built.
func TestSIGHUPDuringStartUpNeverStopsTheDaemon(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.yml")
	if err := os.WriteFile(path, []byte("cluster:\n  gone: tcp://127.0.0.1:9\nevents:\n  - type: die\n    command: 'true'\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(binary, "run", "-c", path, "--log-format", "json", "--listen", "off", "--watch-config=false")
	var logs syncBuffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	for deadline := time.Now().Add(30 * time.Second); !strings.Contains(logs.String(), `"msg":"Starting"`); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no Starting line; log:\n%s", logs.String())
		}
	}
	for range 5 {
		if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		time.Sleep(5 * time.Millisecond)
	}
	select {
	case err := <-exited:
		t.Fatalf("the daemon exited on a SIGHUP during start-up: %v; log:\n%s", err, logs.String())
	case <-time.After(2 * time.Second):
	}
	if !strings.Contains(logs.String(), `"msg":"Reload requested"`) {
		t.Errorf("no reload after the SIGHUPs; log:\n%s", logs.String())
	}
}

// syncBuffer is a bytes.Buffer safe for a writer and a reader at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
