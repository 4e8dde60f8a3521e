package e2e

import (
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

// TestDaemonRunsAsAContainer builds the image with hack/image.sh and runs it the
// way the README says: as a container on engine b, with --init, as the image's
// non-root user reaching engine a's socket through the socket's group
// (--group-add), watching engine a through a bind mount of a's socket
// directory. A handler in the image runs as that user (id -u is 65532) and uses
// the image's docker CLI on the engine that sent the event, and `docker stop`
// shuts the daemon down cleanly (exit code 0).
func TestDaemonRunsAsAContainer(t *testing.T) {
	engines := testenv.Engines(t)
	engineDir := filepath.Join(os.Getenv("EVENTSD_ENGINES_DIR"), "a")
	sock, err := os.Stat(filepath.Join(engineDir, "docker.sock"))
	if err != nil {
		t.Fatalf("engine a's socket: %v", err)
	}
	st, ok := sock.Sys().(*syscall.Stat_t)
	if !ok {
		t.Fatalf("no owner for %s", engineDir)
	}
	if sock.Mode().Perm()&0o060 != 0o060 || st.Gid == 0 {
		t.Fatalf("engine a's socket is %v gid %d: want it read-write for a group other than root's", sock.Mode(), st.Gid)
	}
	socketGroup := strconv.Itoa(int(st.Gid))
	a, b := engines["a"], engines["b"]

	tag := "docker-eventsd:" + unique("e2e")
	build := exec.Command("../../hack/image.sh", tag)
	build.Env = append(os.Environ(), "DOCKER_HOST="+b)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("hack/image.sh: %v\n%s", err, out)
	}
	t.Cleanup(func() { _ = exec.Command(dockerCLI(), "-H", b, "rmi", "-f", tag).Run() })

	cfgDir, outDir := t.TempDir(), t.TempDir()
	prefix := unique("ctr")
	cfg := `
cluster:
  a: unix:///var/run/docker.sock
events:
  - name: starts
    type: start
    from_container: ` + prefix + `-*
    command: 'id -u > /out/uid && docker -H "$ENGINE_A" inspect -f "{{.Name}}" "$CONTAINER_ID" > /out/inspected && echo "$FROM_CONTAINER" >> /out/started'
`
	if err := os.WriteFile(filepath.Join(cfgDir, "events.yml"), []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	// The daemon's user (65532) reads the config and writes /out.
	for dir, mode := range map[string]os.FileMode{cfgDir: 0o755, outDir: 0o777} {
		if err := os.Chmod(dir, mode); err != nil {
			t.Fatal(err)
		}
	}

	daemonName := prefix + "-daemon"
	testenv.Docker(t, b, "run", "-d", "--init", "--network", "none", "--name", daemonName,
		"--group-add", socketGroup,
		"-v", engineDir+":/var/run",
		"-v", cfgDir+":/etc/docker-eventsd:ro",
		"-v", outDir+":/out",
		tag)
	t.Cleanup(func() { _ = exec.Command(dockerCLI(), "-H", b, "rm", "-f", daemonName).Run() })
	logs := func() string {
		out, _ := exec.Command(dockerCLI(), "-H", b, "logs", daemonName).CombinedOutput()
		return string(out)
	}
	waitFor(t, 60*time.Second, "daemon in sync with engine a", func() (bool, string) {
		l := logs()
		return strings.Contains(l, "Engine in sync"), l
	})

	name := prefix + "-web"
	testenv.RunContainer(t, a, name, testenv.Image(t), "sleep", "600")
	waitFor(t, 30*time.Second, "the handler ran in the container", func() (bool, string) {
		got, _ := os.ReadFile(filepath.Join(outDir, "started"))
		return strings.TrimSpace(string(got)) == name, string(got) + "\n" + logs()
	})
	if got, _ := os.ReadFile(filepath.Join(outDir, "inspected")); strings.TrimSpace(string(got)) != "/"+name {
		t.Errorf("docker inspect from the handler = %q, want %q", got, "/"+name)
	}
	if got, _ := os.ReadFile(filepath.Join(outDir, "uid")); strings.TrimSpace(string(got)) != "65532" {
		t.Errorf("id -u in the handler = %q, want 65532 (the image's user, not root)", got)
	}
	if user := testenv.Docker(t, b, "inspect", "-f", "{{.Config.User}}", daemonName); user != "65532:65532" {
		t.Errorf("the container's user = %q, want the image's 65532:65532", user)
	}

	testenv.Docker(t, b, "stop", "-t", "40", daemonName)
	if code := testenv.Docker(t, b, "inspect", "-f", "{{.State.ExitCode}}", daemonName); code != "0" {
		t.Errorf("exit code after docker stop = %s, want 0\n%s", code, logs())
	}
	if l := logs(); !strings.Contains(l, "Stopped") {
		t.Errorf("no clean shutdown in the logs:\n%s", l)
	}
}

// dockerCLI is the docker CLI the engines' helpers use.
func dockerCLI() string {
	if v := os.Getenv("EVENTSD_TEST_DOCKER"); v != "" {
		return v
	}
	return "docker"
}
