package bench

import (
	"context"
	"os"
	"testing"
)

// BenchmarkDiscoveryEtcd100Engines: 100 fake engines put in etcd in one
// transaction, until all are in sync (etcd-ms), against the same engines
// in a static cluster: (static-ms). Needs EVENTSD_TEST_ETCD (hack/etcd.sh
// up): go test -run - -bench DiscoveryEtcd -benchtime 3x ./test/bench/
func BenchmarkDiscoveryEtcd100Engines(b *testing.B) {
	ep := os.Getenv("EVENTSD_TEST_ETCD")
	if ep == "" {
		b.Skip("EVENTSD_TEST_ETCD is not set: hack/etcd.sh up, then . /tmp/eventsd-etcd/env")
	}
	var static, etcd float64
	for b.Loop() {
		r, err := DiscoveryEtcd(context.Background(), ep, 100)
		if err != nil {
			b.Fatal(err)
		}
		static += float64(r.Static.Microseconds()) / 1000
		etcd += float64(r.Etcd.Microseconds()) / 1000
	}
	b.ReportMetric(static/float64(b.N), "static-ms")
	b.ReportMetric(etcd/float64(b.N), "etcd-ms")
	b.ReportMetric(0, "ns/op")
}
