package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/samalba/docker-eventsd/config"
	eventsd "github.com/samalba/docker-eventsd/daemon"
	"github.com/samalba/docker-eventsd/internal/fakeengine"
)

// DiscoveryResult is what DiscoveryEtcd measured.
type DiscoveryResult struct {
	// Engines is how many fake engines took part.
	Engines int
	// Static is the baseline: from Run of a daemon whose cluster: lists
	// every engine until every one is in sync (its first list loaded).
	Static time.Duration
	// Etcd is from the transaction that put every engine's key under the
	// prefix of a running daemon's etcd source until every one is in sync.
	Etcd time.Duration
}

// DiscoveryEtcd measures issue 11's "100 engines put in etcd at once: all
// in sync ≤ 1 s", with fake engines (fakeengine, 5 containers each) and
// the real etcd at endpoint, against the same engines in a static cluster:
// in the same run.
func DiscoveryEtcd(ctx context.Context, endpoint string, engines int) (DiscoveryResult, error) {
	res := DiscoveryResult{Engines: engines}
	srv, err := fakeengine.NewServer(fakeengine.Options{Engines: engines, Containers: 5})
	if err != nil {
		return res, err
	}
	defer srv.Close()
	urls := srv.URLs()
	names := make([]string, len(urls))
	for i := range urls {
		names[i] = fmt.Sprintf("e%03d", i)
	}

	// Baseline: the static cluster:.
	cluster := "cluster:\n"
	for i, u := range urls {
		cluster += fmt.Sprintf("  %s: %s\n", names[i], u)
	}
	if res.Static, err = timeToSync(ctx, cluster, names, nil); err != nil {
		return res, fmt.Errorf("static cluster: %w", err)
	}

	cli, err := clientv3.New(clientv3.Config{Endpoints: []string{endpoint}, DialTimeout: 5 * time.Second, Logger: zap.NewNop()})
	if err != nil {
		return res, err
	}
	defer cli.Close()
	prefix := fmt.Sprintf("/eventsd-bench/%d/", time.Now().UnixNano())
	defer cli.Delete(context.WithoutCancel(ctx), prefix, clientv3.WithPrefix()) //nolint:errcheck // best effort
	src := fmt.Sprintf("discovery:\n  - etcd: {endpoints: [%s], prefix: %q}\n", endpoint, prefix)
	res.Etcd, err = timeToSync(ctx, src, names, func() error {
		ops := make([]clientv3.Op, len(urls))
		for i, u := range urls {
			ops[i] = clientv3.OpPut(prefix+names[i], u)
		}
		_, err := cli.Txn(ctx).Then(ops...).Commit()
		return err
	})
	return res, err
}

// benchD1 is DiscoveryEtcd as a row of the bench's summary (-run d1), on
// the etcd of EVENTSD_TEST_ETCD (hack/etcd.sh up).
func benchD1(ctx context.Context, env *Env) ([]SummaryRow, error) {
	ep := os.Getenv("EVENTSD_TEST_ETCD")
	if ep == "" {
		return nil, errors.New("EVENTSD_TEST_ETCD is not set: hack/etcd.sh up, then . /tmp/eventsd-etcd/env")
	}
	r, err := DiscoveryEtcd(ctx, ep, 100)
	if err != nil {
		return nil, err
	}
	fmt.Fprintf(env.Out, "#### D1 — 100 engines put in etcd at once\n\n| | put → all in sync |\n|---|---|\n| etcd source | %s |\n| baseline: static cluster:, Run → all in sync | %s |\n\n", ms(r.Etcd), ms(r.Static))
	return []SummaryRow{{ID: "D1", Metric: "100 engines put in etcd → all in sync", Measured: ms(r.Etcd), Baseline: ms(r.Static),
		Ratio: float64(r.Etcd) / float64(max(r.Static, 1)), Target: "≤ 1 s", Met: verdict(r.Etcd <= time.Second, "")}}, nil
}

// timeToSync runs a daemon on the config src and returns the time until
// every engine of names is in sync, from Run when add is nil, else from
// add's return (called once the daemon runs and its sources had time to
// list).
func timeToSync(ctx context.Context, src string, names []string, add func() error) (time.Duration, error) {
	cfg, err := config.Parse("bench.yml", []byte(src+"events:\n  - type: die\n"))
	if err != nil {
		return 0, err
	}
	d, err := eventsd.New(eventsd.Options{Config: cfg, ShutdownTimeout: -1})
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan error, 1)
	start := time.Now()
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	if add != nil {
		time.Sleep(time.Second) // the source connects and lists the empty prefix
		if err := add(); err != nil {
			return 0, err
		}
		start = time.Now()
	}
	deadline := time.Now().Add(time.Minute)
	for _, n := range names {
		for {
			if inf := d.Informer(n); inf != nil {
				select {
				case <-inf.Synced():
				case <-time.After(time.Until(deadline)):
					return 0, fmt.Errorf("engine %s not in sync", n)
				}
				break
			}
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("engine %s never added", n)
			}
			time.Sleep(time.Millisecond)
		}
	}
	return time.Since(start), nil
}
