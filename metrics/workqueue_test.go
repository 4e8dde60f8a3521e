package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"k8s.io/client-go/util/workqueue"
)

func TestWorkqueueMetricsFollowAQueueThroughItsOwnConfig(t *testing.T) {
	reg := prometheus.NewPedanticRegistry()
	wq, err := NewWorkqueue(reg)
	if err != nil {
		t.Fatal(err)
	}
	q := workqueue.NewTypedRateLimitingQueueWithConfig[string](workqueue.NewTypedItemExponentialFailureRateLimiter[string](time.Hour, time.Hour),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "test", MetricsProvider: wq})
	defer q.ShutDown()
	q.Add("a")
	q.Add("b")
	q.Add("a") // deduplicated: not an add
	item, _ := q.Get()
	q.Done(item)
	q.AddRateLimited("c") // a retry, in an hour: not in the queue yet

	want := `
# HELP workqueue_adds_total Total number of adds handled by workqueue
# TYPE workqueue_adds_total counter
workqueue_adds_total{name="test"} 2
# HELP workqueue_depth Current depth of workqueue
# TYPE workqueue_depth gauge
workqueue_depth{name="test"} 1
# HELP workqueue_retries_total Total number of retries handled by workqueue
# TYPE workqueue_retries_total counter
workqueue_retries_total{name="test"} 1
`
	if err := testutil.GatherAndCompare(reg, strings.NewReader(want), "workqueue_adds_total", "workqueue_depth", "workqueue_retries_total"); err != nil {
		t.Error(err)
	}
}

func TestNoRegistererGivesNoProvider(t *testing.T) {
	if wq, err := NewWorkqueue(nil); wq != nil || err != nil {
		t.Fatalf("NewWorkqueue(nil) = %v, %v; want nil, nil", wq, err)
	}
}

func TestNewRegistryHasTheGoAndProcessCollectors(t *testing.T) {
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total"} {
		if n, err := testutil.GatherAndCount(NewRegistry(), name); err != nil || n != 1 {
			t.Errorf("%s: %d series (%v), want 1", name, n, err)
		}
	}
}
