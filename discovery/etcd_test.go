package discovery

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/samalba/docker-eventsd/config"
)

func etcdClient(t *testing.T, endpoint string) *clientv3.Client {
	t.Helper()
	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// freshPrefix returns the test's own prefix, emptied of an earlier run's keys.
func freshPrefix(t *testing.T, cli *clientv3.Client) string {
	t.Helper()
	prefix := "/eventsd-test/" + t.Name() + "/"
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	if _, err := cli.Delete(ctx, prefix, clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	return prefix
}

func put(t *testing.T, cli *clientv3.Client, key, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	var err error
	if value == "" {
		_, err = cli.Delete(ctx, key)
	} else {
		_, err = cli.Put(ctx, key, value)
	}
	if err != nil {
		t.Fatal(err)
	}
}

func TestEtcdSourceListsWatchesAndSkipsBadValues(t *testing.T) {
	ep := service(t, "ETCD")
	cli := etcdClient(t, ep)
	prefix := freshPrefix(t, cli)
	put(t, cli, prefix+"a", "tcp://127.0.0.1:1")
	put(t, cli, prefix+"b", `{"url":"tcp://127.0.0.1:2","labels":{"zone":"z"}}`)
	put(t, cli, prefix+"bad", "ftp://x")
	put(t, cli, "/eventsd-test/other", "tcp://127.0.0.1:9")
	s := run(t, &Etcd{Config: config.EtcdDiscovery{Endpoints: []string{ep}, Prefix: prefix}, opts: fast})
	s.wait("a=tcp://127.0.0.1:1 b=tcp://127.0.0.1:2")
	put(t, cli, prefix+"c", "tcp://127.0.0.1:3")
	s.wait("a=tcp://127.0.0.1:1 b=tcp://127.0.0.1:2 c=tcp://127.0.0.1:3")
	put(t, cli, prefix+"a", "")
	s.wait("b=tcp://127.0.0.1:2 c=tcp://127.0.0.1:3")
	put(t, cli, prefix+"bad", "tcp://127.0.0.1:4")
	s.wait("b=tcp://127.0.0.1:2 bad=tcp://127.0.0.1:4 c=tcp://127.0.0.1:3")
}

func TestEtcdKilledAndRestartedRemovesNothingAndResumesTheWatch(t *testing.T) {
	ep := service(t, "ETCD")
	cli := etcdClient(t, ep)
	prefix := freshPrefix(t, cli)
	put(t, cli, prefix+"a", "tcp://127.0.0.1:1")
	s := run(t, &Etcd{Config: config.EtcdDiscovery{Endpoints: []string{ep}, Prefix: prefix}, opts: fast})
	s.wait("a=tcp://127.0.0.1:1")
	hack(t, "etcd.sh", "kill")
	s.quiet(2 * time.Second)
	hack(t, "etcd.sh", "start")
	put(t, cli, prefix+"b", "tcp://127.0.0.1:2")
	pushes := s.wait("a=tcp://127.0.0.1:1 b=tcp://127.0.0.1:2")
	none(t, pushes, "a=tcp://127.0.0.1:1")
}

func TestEtcdSourceWithoutAServerPushesNothingAndKeepsTrying(t *testing.T) {
	s := run(t, &Etcd{Config: config.EtcdDiscovery{Endpoints: []string{"http://127.0.0.1:24399"}, Prefix: "/x/"}, opts: fast})
	s.quiet(1500 * time.Millisecond)
}

func TestEtcdWatchFromACompactedRevisionAsksForAList(t *testing.T) {
	ep := service(t, "ETCD")
	cli := etcdClient(t, ep)
	prefix := freshPrefix(t, cli)
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	first, err := cli.Put(ctx, prefix+"a", "tcp://127.0.0.1:1")
	if err != nil {
		t.Fatal(err)
	}
	last, err := cli.Put(ctx, prefix+"b", "tcp://127.0.0.1:2")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Compact(ctx, last.Header.Revision); err != nil {
		t.Fatal(err)
	}
	s := &Etcd{Config: config.EtcdDiscovery{Endpoints: []string{ep}, Prefix: prefix}, opts: fast}
	_, err = s.watch(ctx, testr.New(t), cli, map[string][]byte{}, first.Header.Revision-1, func([]config.Engine) {}, func() {})
	if !errors.Is(err, rpctypes.ErrCompacted) {
		t.Fatalf("watch from a compacted revision: %v, want ErrCompacted (a list)", err)
	}
}
