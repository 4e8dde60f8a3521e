package e2e

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/samalba/docker-eventsd/internal/faultproxy"
	"github.com/samalba/docker-eventsd/internal/testenv"
)

// discoveryService returns the address of a real service hack/test.sh
// started (EVENTSD_TEST_<NAME>), or skips outside hack/test.sh.
func discoveryService(t *testing.T, name string) string {
	t.Helper()
	v := os.Getenv("EVENTSD_TEST_" + name)
	if v == "" {
		t.Skipf("EVENTSD_TEST_%s is not set: run the test with hack/test.sh", name)
	}
	// The test holds the service alone until it ends: it kills it, and
	// discovery/'s tests, run at the same time by go test, use it too.
	f, err := os.OpenFile(filepath.Join(os.TempDir(), "eventsd-service-"+strings.ToLower(name)+".lock"), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	return v
}

// hackScript runs ../../hack/<script> args (kill, start of a service).
func hackScript(t *testing.T, script string, args ...string) {
	t.Helper()
	if out, err := exec.Command(filepath.Join("..", "..", "hack", script), args...).CombinedOutput(); err != nil {
		t.Fatalf("hack/%s %v: %v\n%s", script, args, err, out)
	}
}

// discoveryConfig is engine a in cluster:, the source given, and a rule
// that records starts and the engine set's changes.
func discoveryConfig(a, source string) string {
	return fmt.Sprintf(`
cluster:
  a: %s
discovery:
  - %s
events:
  - name: rec
    type: [start, engine_added, engine_removed]
    command: '%s'
`, a, source, recordCmd)
}

// followed checks that the daemon follows engine name at engineURL, added
// by source: engine_added, then the start of a container on it.
func followed(t *testing.T, d *daemon, name, engineURL, source string) {
	t.Helper()
	d.waitRun("rec", map[string]string{"EVENT_ACTION": "engine_added", "FROM_ENGINE": name, "EVENT_SOURCE": source, "FROM_ENGINE_URL": engineURL}, 30*time.Second)
	c := unique("disc")
	testenv.RunContainer(t, engineURL, c, testenv.Image(t), "sleep", "600")
	d.waitRun("rec", map[string]string{"EVENT_ACTION": "start", "FROM_ENGINE": name, "FROM_CONTAINER": c}, 30*time.Second)
}

// outage kills a source's service, checks that the engine name keeps
// delivering and is not removed, and starts the service again.
func outage(t *testing.T, d *daemon, script, name, engineURL string) {
	t.Helper()
	hackScript(t, script, "kill")
	c := unique("outage")
	testenv.RunContainer(t, engineURL, c, testenv.Image(t), "sleep", "600")
	d.waitRun("rec", map[string]string{"EVENT_ACTION": "start", "FROM_ENGINE": name, "FROM_CONTAINER": c}, 30*time.Second)
	time.Sleep(2 * time.Second)
	if n := d.countRuns("rec", map[string]string{"EVENT_ACTION": "engine_removed"}); n != 0 {
		t.Fatalf("%d engine_removed while the source was down", n)
	}
	hackScript(t, script, "start")
}

func TestEtcdKeyMakesTheDaemonFollowAnEngineAndItsDeletionRemovesIt(t *testing.T) {
	engines := testenv.Engines(t)
	ep := discoveryService(t, "ETCD")
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{ep}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	prefix := "/eventsd-e2e/" + unique("etcd") + "/"
	// The daemon reaches etcd through a proxy: cut, it is a partition
	// during which the keys change.
	p := faultproxy.New(t, strings.TrimPrefix(ep, "http://"))
	d := startDaemon(t, discoveryConfig(engines["a"], fmt.Sprintf("etcd: {endpoints: [http://%s], prefix: %s}", p.Addr(), prefix)), 1)

	if _, err := cli.Put(ctx, prefix+"b", engines["b"]); err != nil {
		t.Fatal(err)
	}
	followed(t, d, "b", engines["b"], "etcd")
	outage(t, d, "etcd.sh", "b", engines["b"])
	// Back: a change after the outage is applied.
	if _, err := cli.Put(ctx, prefix+"b2", fmt.Sprintf(`{"url":%q,"labels":{"via":"etcd"}}`, engines["b"])); err != nil {
		t.Fatal(err)
	}
	followed(t, d, "b2", engines["b"], "etcd")

	// Partitioned from etcd: b is deleted and c put meanwhile; nothing is
	// removed until etcd is reached again, then both changes apply.
	p.Set(faultproxy.Refuse)
	if _, err := cli.Delete(ctx, prefix+"b"); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, prefix+"c", engines["a"]); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if n := d.countRuns("rec", map[string]string{"EVENT_ACTION": "engine_removed"}); n != 0 {
		t.Fatalf("%d engine_removed while etcd could not be reached", n)
	}
	p.Set(faultproxy.Pass)
	d.waitRun("rec", map[string]string{"EVENT_ACTION": "engine_removed", "FROM_ENGINE": "b", "EVENT_SOURCE": "etcd", "FROM_ENGINE_URL": engines["b"]}, 60*time.Second)
	followed(t, d, "c", engines["a"], "etcd")
}

func TestRedisHashFieldMakesTheDaemonFollowAnEngineAndSurvivesARedisRestart(t *testing.T) {
	engines := testenv.Engines(t)
	addr := discoveryService(t, "REDIS")
	opt, err := redis.ParseURL(addr)
	if err != nil {
		t.Fatal(err)
	}
	cli := redis.NewClient(opt)
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	key := unique("eventsd-e2e")
	p := faultproxy.New(t, opt.Addr)
	viaProxy := strings.Replace(addr, opt.Addr, p.Addr(), 1)
	d := startDaemon(t, discoveryConfig(engines["a"], fmt.Sprintf("redis: {url: %q, key: %s}", viaProxy, key)), 1)
	if err := cli.HSet(ctx, key, "b", engines["b"]).Err(); err != nil {
		t.Fatal(err)
	}
	followed(t, d, "b", engines["b"], "redis")
	outage(t, d, "redis.sh", "b", engines["b"])

	// Partitioned from Redis: b is deleted meanwhile; applied once back.
	p.Set(faultproxy.Refuse)
	if err := cli.HDel(ctx, key, "b").Err(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * time.Second)
	if n := d.countRuns("rec", map[string]string{"EVENT_ACTION": "engine_removed"}); n != 0 {
		t.Fatalf("%d engine_removed while Redis could not be reached", n)
	}
	p.Set(faultproxy.Pass)
	d.waitRun("rec", map[string]string{"EVENT_ACTION": "engine_removed", "FROM_ENGINE": "b", "EVENT_SOURCE": "redis"}, 60*time.Second)
}

func TestDNSSRVTargetIsFollowedAndSurvivesAResolverOutage(t *testing.T) {
	engines := testenv.Engines(t)
	addr := discoveryService(t, "DNS")
	u, err := url.Parse(engines["b"])
	if err != nil {
		t.Fatal(err)
	}
	records := filepath.Join(os.Getenv("EVENTSD_DNS_DIR"), "records.conf")
	write := func(srv bool) {
		t.Helper()
		data := fmt.Sprintf("local=/eventsd.test/\nhost-record=b.eventsd.test,%s\n", u.Hostname())
		if srv {
			data += "srv-host=_docker._tcp.eventsd.test,b.eventsd.test," + u.Port() + "\n"
		}
		if err := os.WriteFile(records, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		hackScript(t, "dnsmasq.sh", "restart")
	}
	write(true)
	d := startDaemon(t, discoveryConfig(engines["a"], fmt.Sprintf("dns: {srv: _docker._tcp.eventsd.test, interval: 500ms, resolver: %q}", addr)), 1)
	followed(t, d, "b.eventsd.test", engines["b"], "dns")
	outage(t, d, "dnsmasq.sh", "b.eventsd.test", engines["b"])
	write(false)
	d.waitRun("rec", map[string]string{"EVENT_ACTION": "engine_removed", "FROM_ENGINE": "b.eventsd.test", "EVENT_SOURCE": "dns"}, 30*time.Second)
}

func TestEnginesFileIsFollowedWhenRenamedOverAndALaterBadFileRemovesNothing(t *testing.T) {
	engines := testenv.Engines(t)
	dir := t.TempDir()
	file := filepath.Join(dir, "engines.yml")
	replace := func(data string) {
		t.Helper()
		if err := os.WriteFile(file+".tmp", []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(file+".tmp", file); err != nil {
			t.Fatal(err)
		}
	}
	replace("")
	d := startDaemon(t, discoveryConfig(engines["a"], "file: "+file), 1)
	replace("b: " + engines["b"] + "\n")
	followed(t, d, "b", engines["b"], "file")
	replace("[broken\n")
	time.Sleep(time.Second)
	replace("{}\n")
	d.waitRun("rec", map[string]string{"EVENT_ACTION": "engine_removed", "FROM_ENGINE": "b", "EVENT_SOURCE": "file"}, 30*time.Second)
	if n := d.countRuns("rec", map[string]string{"EVENT_ACTION": "engine_removed"}); n != 1 {
		t.Errorf("%d engine_removed, want 1 (the broken file removed nothing)", n)
	}
}
