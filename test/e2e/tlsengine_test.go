package e2e

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

// tlsEngine is a dockerd of the test's own, started with
// --tlsverify --tlscacert --tlscert --tlskey -H tcp://127.0.0.1:PORT and
// certificates the test made: Dir holds ca.pem, client.pem and
// client-key.pem. It is stopped, and its directory removed, when the test
// ends.
type tlsEngine struct {
	Addr  string // 127.0.0.1:PORT
	Certs string // ca.pem, client.pem, client-key.pem
	dir   string
}

// startTLSEngine starts the engine (a few seconds) with the flags of
// hack/engines.sh, in a directory, containerd namespace and port of its
// own, and imports a busybox image, busybox:tls, into it.
func startTLSEngine(t *testing.T) *tlsEngine {
	t.Helper()
	testenv.Engines(t) // real engines run here: so can this one
	dockerd, err := exec.LookPath("dockerd")
	if err != nil {
		t.Fatalf("dockerd: %v", err)
	}
	// Not t.TempDir: its removal fails on what dockerd leaves mounted.
	dir, err := os.MkdirTemp("", "eventsd-tls-engine-")
	if err != nil {
		t.Fatal(err)
	}
	e := &tlsEngine{Certs: filepath.Join(dir, "certs"), dir: dir}
	if err := os.Mkdir(e.Certs, 0o700); err != nil {
		t.Fatal(err)
	}
	ca, caKey := newCA(t, "eventsd TLS engine CA")
	writeCert(t, e.Certs, "ca", ca, nil)
	srvCert, srvKey := newLeaf(t, ca, caKey, "engine", true)
	writeCert(t, e.Certs, "server", srvCert, srvKey)
	cliCert, cliKey := newLeaf(t, ca, caKey, "client", false)
	writeCert(t, e.Certs, "client", cliCert, cliKey)
	e.Addr = "127.0.0.1:" + strconv.Itoa(freePort(t))
	if err := os.WriteFile(filepath.Join(dir, "daemon.json"), []byte(fmt.Sprintf(`{"deprecated-key-path": %q}`, filepath.Join(dir, "key.json"))), 0o600); err != nil {
		t.Fatal(err)
	}
	logf, err := os.Create(filepath.Join(dir, "dockerd.log"))
	if err != nil {
		t.Fatal(err)
	}
	ns := fmt.Sprintf("eventsd-tls-%d", os.Getpid())
	cmd := exec.Command(dockerd,
		"--iptables=false", "--ip6tables=false", "--bridge=none", "--storage-driver=vfs",
		"--data-root", filepath.Join(dir, "root"), "--exec-root", filepath.Join(dir, "exec"),
		"-H", "unix://"+filepath.Join(dir, "docker.sock"), "-H", "tcp://"+e.Addr,
		"--tlsverify", "--tlscacert", filepath.Join(e.Certs, "ca.pem"),
		"--tlscert", filepath.Join(e.Certs, "server.pem"), "--tlskey", filepath.Join(e.Certs, "server-key.pem"),
		"--pidfile", filepath.Join(dir, "pid"),
		"--containerd-namespace", ns, "--containerd-plugins-namespace", ns+"p",
		"--config-file", filepath.Join(dir, "daemon.json"))
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { _ = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		// SIGTERM: dockerd stops its managed containerd; then whatever is
		// left of the process group.
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
		logf.Close()
		if t.Failed() {
			if b, err := os.ReadFile(logf.Name()); err == nil {
				t.Logf("TLS engine log:\n%s", b)
			}
		}
		unmountUnder(dir)
		if err := os.RemoveAll(dir); err != nil {
			t.Logf("removing %s: %v", dir, err)
		}
	})
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, _, err := e.docker("version"); err == nil {
			break
		}
		select {
		case <-exited:
			t.Fatalf("dockerd --tlsverify exited; see %s", logf.Name())
		case <-time.After(200 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatal("dockerd --tlsverify did not answer in 60s")
		}
	}
	// An image to create containers from: busybox alone.
	bb, err := os.ReadFile("/bin/busybox")
	if err != nil {
		t.Fatalf("busybox: %v", err)
	}
	var img bytes.Buffer
	tw := tar.NewWriter(&img)
	_ = tw.WriteHeader(&tar.Header{Name: "bin/busybox", Mode: 0o755, Size: int64(len(bb))})
	_, _ = tw.Write(bb)
	_ = tw.Close()
	imp := e.cmd("import", "-", "busybox:tls")
	imp.Stdin = &img
	if out, err := imp.CombinedOutput(); err != nil {
		t.Fatalf("docker import: %v: %s", err, out)
	}
	return e
}

// cmd is the docker CLI against the engine, with the client certificate.
func (e *tlsEngine) cmd(args ...string) *exec.Cmd {
	return exec.Command("/usr/bin/docker", append([]string{"--tlsverify",
		"--tlscacert", filepath.Join(e.Certs, "ca.pem"), "--tlscert", filepath.Join(e.Certs, "client.pem"),
		"--tlskey", filepath.Join(e.Certs, "client-key.pem"), "-H", "tcp://" + e.Addr}, args...)...)
}

func (e *tlsEngine) docker(args ...string) (string, string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c := e.cmd(args...)
	c = exec.CommandContext(ctx, c.Path, c.Args[1:]...)
	var out, errb bytes.Buffer
	c.Stdout, c.Stderr = &out, &errb
	err := c.Run()
	return strings.TrimSpace(out.String()), errb.String(), err
}

// unmountUnder unmounts everything mounted at or below dir, deepest first.
func unmountUnder(dir string) {
	data, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var mounts []string
	for _, line := range strings.Split(string(data), "\n") {
		if f := strings.Fields(line); len(f) > 1 && (f[1] == dir || strings.HasPrefix(f[1], dir+"/")) {
			mounts = append(mounts, f[1])
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(mounts)))
	for _, m := range mounts {
		_ = syscall.Unmount(m, syscall.MNT_DETACH)
	}
}

// TestTLSVerifyEngineWithTheTestsCertificates follows a real
// dockerd --tlsverify, as tcp:// with tls: and as https:// with tls:, and an
// engine whose TLS files do not exist yet: validate warns of each missing
// file at its path; run keeps the other engines working, reports that one down
// with the file's name, and takes it once the files appear.
func TestTLSVerifyEngineWithTheTestsCertificates(t *testing.T) {
	engines := testenv.Engines(t)
	e := startTLSEngine(t)
	late := t.TempDir()
	cfg := fmt.Sprintf(`cluster:
  a: %[1]s
  secure:
    url: tcp://%[2]s
    tls: {ca: %[3]s/ca.pem, cert: %[3]s/client.pem, key: %[3]s/client-key.pem}
  secure-https:
    url: https://%[2]s
    tls: {ca: %[3]s/ca.pem, cert: %[3]s/client.pem, key: %[3]s/client-key.pem}
  late:
    url: tcp://%[2]s
    tls:
      ca: %[4]s/ca.pem
      cert: %[4]s/client.pem
      key: %[4]s/client-key.pem
events:
  - name: creates
    type: create
    command: '%[5]s'
  - name: outage
    type: [engine_down, engine_up]
    command: '%[5]s'
`, engines["a"], e.Addr, e.Certs, late, recordCmd)
	path := filepath.Join(t.TempDir(), "events.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}

	// validate warns (run starts without the files; the engine is down
	// until they are there).
	out, err := exec.Command(binary, "validate", path).CombinedOutput()
	if err != nil {
		t.Fatalf("validate with missing TLS files: %v, want exit 0 and warnings:\n%s", err, out)
	}
	for _, want := range []string{
		path + ":12:11: warning: cluster.late.tls.ca: file \"" + late + "/ca.pem\": no such file or directory",
		path + ":13:13: warning: cluster.late.tls.cert: file \"" + late + "/client.pem\": no such file or directory",
		path + ":14:12: warning: cluster.late.tls.key: file \"" + late + "/client-key.pem\": no such file or directory",
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}

	d := launchDaemon(t, path, filepath.Dir(path), "", nil, 3)
	name := unique("tlscreate")
	if _, stderr, err := e.docker("create", "--network", "none", "--name", name, "busybox:tls", "/bin/busybox", "true"); err != nil {
		t.Fatalf("docker create: %v: %s", err, stderr)
	}
	d.waitRun("creates", map[string]string{"FROM_CONTAINER": name, "FROM_ENGINE": "secure"}, 30*time.Second)
	d.waitRun("creates", map[string]string{"FROM_CONTAINER": name, "FROM_ENGINE": "secure-https"}, 30*time.Second)

	d.waitRun("outage", map[string]string{"EVENT_ACTION": "engine_down", "FROM_ENGINE": "late"}, 30*time.Second)
	logs := d.Logs()
	if !strings.Contains(logs, `"msg":"Engine unreachable"`) || !strings.Contains(logs, "tls ca "+late+"/ca.pem: no such file or directory") {
		t.Fatalf("no error naming the missing CA file in the log")
	}
	for _, f := range []string{"ca.pem", "client.pem", "client-key.pem"} {
		data, err := os.ReadFile(filepath.Join(e.Certs, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(late, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	d.waitRun("outage", map[string]string{"EVENT_ACTION": "engine_up", "FROM_ENGINE": "late"}, 30*time.Second)
	name2 := unique("tlslate")
	if _, stderr, err := e.docker("create", "--network", "none", "--name", name2, "busybox:tls", "/bin/busybox", "true"); err != nil {
		t.Fatalf("docker create: %v: %s", err, stderr)
	}
	d.waitRun("creates", map[string]string{"FROM_CONTAINER": name2, "FROM_ENGINE": "late"}, 30*time.Second)
	if n := d.countRuns("outage", map[string]string{"FROM_ENGINE": "a"}) + d.countRuns("outage", map[string]string{"FROM_ENGINE": "secure"}); n != 0 {
		t.Errorf("%d outage runs of the engines that were fine", n)
	}
}
