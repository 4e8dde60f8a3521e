package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// etcdClient returns a client of the cluster of hack/etcd-cluster.sh and a
// prefix of the test's own.
func etcdClient(t *testing.T) (*clientv3.Client, string) {
	t.Helper()
	eps := os.Getenv("EVENTSD_TEST_ETCD_CLUSTER")
	if eps == "" {
		t.Skip("EVENTSD_TEST_ETCD_CLUSTER not set (hack/etcd-cluster.sh up)")
	}
	cli, err := clientv3.New(clientv3.Config{Endpoints: strings.Split(eps, ","), Logger: zap.NewNop()})
	if err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("/eventsd-test/%s/%d/", t.Name(), time.Now().UnixNano())
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_, _ = cli.Delete(ctx, prefix, clientv3.WithPrefix())
		_ = cli.Close()
	})
	return cli, prefix
}

// leaderGuard puts a leader key and returns a Guard of it that the test
// turns off with the returned func.
func leaderGuard(t *testing.T, cli *clientv3.Client, prefix string) (func() (string, int64, bool), func(bool)) {
	t.Helper()
	key := prefix + "leader"
	resp, err := cli.Put(context.Background(), key, "me")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	on := true
	return func() (string, int64, bool) {
			mu.Lock()
			defer mu.Unlock()
			return key, resp.Header.Revision, on
		}, func(v bool) {
			mu.Lock()
			on = v
			mu.Unlock()
		}
}

type fakeSource struct {
	name string
	data []byte
	v    uint64
}

func (f *fakeSource) Name() string                        { return f.name }
func (f *fakeSource) Checkpoint() ([]byte, uint64, error) { return f.data, f.v, nil }
func (f *fakeSource) CheckpointVersion() uint64           { return f.v }

func TestTheSharedJournalIsWrittenByTheLeaderAndReadBackInOrder(t *testing.T) {
	cli, prefix := etcdClient(t)
	guard, _ := leaderGuard(t, cli, prefix)
	ctx := context.Background()
	s, err := OpenEtcd(ctx, EtcdOptions{Client: cli, Prefix: prefix + "j/", Writer: "w1", Guard: guard})
	if err != nil {
		t.Fatal(err)
	}
	// More than one transaction's worth, so that chunking is used.
	for seq := uint64(1); seq <= 250; seq++ {
		s.PutDelivery(seq, []byte(fmt.Sprintf(`{"n":%d}`, seq)))
	}
	s.CompleteDelivery(3, "r\x00e\x00ev3", []byte(`{"done":true}`))
	s.PutStateRule("st", []byte(`{"hash":"h"}`))
	if err := s.Flush([]Source{&fakeSource{name: "eng", data: []byte(`{"cp":1}`), v: 1}}); err != nil {
		t.Fatal(err)
	}
	s.DeleteDelivery(4)
	if err := s.Flush(nil); err != nil {
		t.Fatal(err)
	}
	// A new process reads it all: deliveries in the order they were made.
	s2, err := OpenEtcd(ctx, EtcdOptions{Client: cli, Prefix: prefix + "j/", Writer: "w2", Guard: guard})
	if err != nil {
		t.Fatal(err)
	}
	st := s2.State()
	if len(st.Deliveries) != 248 {
		t.Fatalf("%d deliveries read back, want 248", len(st.Deliveries))
	}
	if string(st.Deliveries[0].Data) != `{"n":1}` || string(st.Deliveries[247].Data) != `{"n":250}` {
		t.Fatalf("first and last = %s, %s", st.Deliveries[0].Data, st.Deliveries[247].Data)
	}
	if string(st.Engines["eng"]) != `{"cp":1}` || string(st.StateRules["st"]) != `{"hash":"h"}` || string(st.Completed["r\x00e\x00ev3"]) != `{"done":true}` {
		t.Fatalf("state = %+v", st)
	}
	// The new process deletes a delivery of the old one by its key.
	s2.DeleteDelivery(st.Deliveries[0].Seq)
	if err := s2.Flush(nil); err != nil {
		t.Fatal(err)
	}
	s3, err := OpenEtcd(ctx, EtcdOptions{Client: cli, Prefix: prefix + "j/", Writer: "w3", Guard: guard})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(s3.State().Deliveries); n != 247 {
		t.Fatalf("%d deliveries after the delete, want 247", n)
	}
}

func TestAStandbyOrADeposedLeaderWritesNothing(t *testing.T) {
	cli, prefix := etcdClient(t)
	guard, set := leaderGuard(t, cli, prefix)
	ctx := context.Background()
	s, err := OpenEtcd(ctx, EtcdOptions{Client: cli, Prefix: prefix + "j/", Writer: "w1", Guard: guard})
	if err != nil {
		t.Fatal(err)
	}
	set(false)
	s.PutDelivery(1, []byte(`{}`))
	if err := s.Flush(nil); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Flush of a standby = %v, want ErrNotLeader", err)
	}
	// Deposed: the guard says it leads, but another replica's key replaced
	// its own.
	set(true)
	key, _, _ := guard()
	if _, err := cli.Delete(ctx, key); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, key, "other"); err != nil {
		t.Fatal(err)
	}
	if err := s.Flush(nil); !errors.Is(err, ErrNotLeader) {
		t.Fatalf("Flush of a deposed leader = %v, want ErrNotLeader", err)
	}
	resp, err := cli.Get(ctx, prefix+"j/", clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil || resp.Count != 0 {
		t.Fatalf("keys written by a replica that does not lead: %v, %v", resp.Count, err)
	}
}

func TestCompletedRecordsOfTheLeaderReachTheOtherReplicas(t *testing.T) {
	cli, prefix := etcdClient(t)
	guard, set := leaderGuard(t, cli, prefix)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 10)
	standbyGuard := func() (string, int64, bool) { return "", 0, false }
	standby, err := OpenEtcd(ctx, EtcdOptions{Client: cli, Prefix: prefix + "j/", Writer: "s", Guard: standbyGuard,
		OnCompleted: func(key string, deleted bool) { got <- fmt.Sprintf("%q %v", key, deleted) }})
	if err != nil {
		t.Fatal(err)
	}
	go standby.Run(ctx, nil, time.Second)
	leader, err := OpenEtcd(ctx, EtcdOptions{Client: cli, Prefix: prefix + "j/", Writer: "l", Guard: guard})
	if err != nil {
		t.Fatal(err)
	}
	set(true)
	leader.CompleteDelivery(1, "r\x00e/x\x00id", []byte(`{}`))
	if err := leader.Flush(nil); err != nil {
		t.Fatal(err)
	}
	leader.ForgetCompleted("r\x00e/x\x00id")
	if err := leader.Flush(nil); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"r\x00e/x\x00id" false`, `"r\x00e/x\x00id" true`} {
		select {
		case g := <-got:
			if g != want {
				t.Fatalf("OnCompleted(%s), want %s", g, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("OnCompleted not called for %s", want)
		}
	}
}
