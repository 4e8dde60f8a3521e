package ha

import (
	"context"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/samalba/docker-eventsd/config"
)

// testClient returns a client of the etcd cluster of hack/etcd-cluster.sh
// ($EVENTSD_TEST_ETCD_CLUSTER), and a key prefix of the test's own.
func testClient(t *testing.T) (*clientv3.Client, string) {
	t.Helper()
	eps := os.Getenv("EVENTSD_TEST_ETCD_CLUSTER")
	if eps == "" {
		t.Skip("EVENTSD_TEST_ETCD_CLUSTER not set (hack/etcd-cluster.sh up)")
	}
	cli, err := NewClient(config.HAEtcd{Endpoints: strings.Split(eps, ",")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cli.Close() })
	prefix := fmt.Sprintf("/eventsd-test/%s/%d/", t.Name(), time.Now().UnixNano())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = cli.Delete(ctx, prefix, clientv3.WithPrefix())
	})
	return cli, prefix
}

// runElector starts an Elector of id; the returned func stops it.
func runElector(t *testing.T, cli *clientv3.Client, prefix, id string) (*Elector, func()) {
	t.Helper()
	e, err := NewElector(Options{Client: cli, Prefix: prefix, TTL: 2 * time.Second, ID: id})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { e.Run(ctx) })
	stop := func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return e, stop
}

// waitLeader waits until exactly one of es leads, and returns it.
func waitLeader(t *testing.T, within time.Duration, es ...*Elector) *Elector {
	t.Helper()
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		var leaders []*Elector
		for _, e := range es {
			if _, ok := e.Allowed(); ok {
				leaders = append(leaders, e)
			}
		}
		if len(leaders) > 1 {
			t.Fatalf("%d replicas lead at once", len(leaders))
		}
		if len(leaders) == 1 {
			return leaders[0]
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no leader within %s", within)
	return nil
}

func TestOneReplicaLeadsAndAStandbyTakesOverWithAGreaterToken(t *testing.T) {
	cli, prefix := testClient(t)
	a, stopA := runElector(t, cli, prefix, "a")
	b, stopB := runElector(t, cli, prefix, "b")
	first := waitLeader(t, 5*time.Second, a, b)
	tok1, _ := first.Allowed()
	other, stopFirst := b, stopA
	if first == b {
		other, stopFirst = a, stopB
	}
	// The standby knows who leads.
	deadline := time.Now().Add(3 * time.Second)
	for s := other.Status(); (s.Leader != first.Replica() || s.LeaderSince.IsZero()) && time.Now().Before(deadline); s = other.Status() {
		time.Sleep(10 * time.Millisecond)
	}
	if s := other.Status(); s.Leader != first.Replica() || s.FenceToken != tok1 || s.Leading || s.LeaderSince.IsZero() {
		t.Fatalf("standby's status = %+v, want leader %s with token %d", s, first.Replica(), tok1)
	}
	stopFirst()
	if _, ok := first.Allowed(); ok {
		t.Fatal("a stopped leader still allows handlers")
	}
	second := waitLeader(t, 3*time.Second, a, b)
	if second != other {
		t.Fatalf("leader after the first stopped = %s", second.Replica())
	}
	tok2, _ := second.Allowed()
	if tok2 <= tok1 {
		t.Fatalf("fence token went from %d to %d", tok1, tok2)
	}
}

func TestALeaderWhoseLeaseIsRevokedStopsAndCampaignsWithANewToken(t *testing.T) {
	cli, prefix := testClient(t)
	a, _ := runElector(t, cli, prefix, "a")
	waitLeader(t, 5*time.Second, a)
	tok1, _ := a.Allowed()
	resp, err := cli.Get(context.Background(), prefix+"election/", clientv3.WithPrefix())
	if err != nil || len(resp.Kvs) != 1 {
		t.Fatalf("leader key: %v, %v", resp, err)
	}
	changed := a.Changed()
	if _, err := cli.Revoke(context.Background(), clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-changed:
	case <-time.After(2 * time.Second):
		t.Fatal("the leader did not notice its lease was revoked within the TTL")
	}
	waitLeader(t, 5*time.Second, a)
	tok2, _ := a.Allowed()
	if tok2 <= tok1 {
		t.Fatalf("token after a new campaign = %d, want more than %d", tok2, tok1)
	}
}

func TestAReplicaWithoutEtcdIsAStandbyAndRetries(t *testing.T) {
	cli, err := NewClient(config.HAEtcd{Endpoints: []string{"http://127.0.0.1:24799"}})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	e, _ := runElector(t, cli, "/x/", "lonely")
	time.Sleep(1500 * time.Millisecond)
	if _, ok := e.Allowed(); ok {
		t.Fatal("a replica that never reached etcd leads")
	}
	if s := e.Status(); s.Connected || s.Leader != "" {
		t.Fatalf("status = %+v", s)
	}
}
