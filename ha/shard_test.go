package ha

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"
)

func TestEachEngineHasOneOwnerAndADeadReplicasEnginesMoveToTheOthers(t *testing.T) {
	cli, prefix := testClient(t)
	var engines []string
	for i := range 30 {
		engines = append(engines, fmt.Sprintf("e%d", i))
	}
	var ss []*Sharder
	var cancels []context.CancelFunc
	var wg sync.WaitGroup
	for _, id := range []string{"a", "b", "c"} {
		s, err := NewSharder(Options{Client: cli, Prefix: prefix, TTL: 2 * time.Second, ID: id})
		if err != nil {
			t.Fatal(err)
		}
		s.SetEngines(engines)
		ctx, cancel := context.WithCancel(context.Background())
		wg.Go(func() { s.Run(ctx) })
		ss, cancels = append(ss, s), append(cancels, cancel)
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
		wg.Wait()
	}()
	// owners waits until every engine is allowed on exactly one of ss, the
	// state rules on one, and returns the engines per replica.
	owners := func(ss ...*Sharder) map[string]int {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			n := map[string]int{}
			ok := true
			for _, e := range engines {
				owned := 0
				for _, s := range ss {
					if _, allowed := s.AllowedEngine(e); allowed {
						owned++
						n[s.Replica()]++
					}
				}
				if owned > 1 {
					t.Fatalf("%s allowed on %d replicas at once", e, owned)
				}
				ok = ok && owned == 1
			}
			leaders := 0
			for _, s := range ss {
				if _, allowed := s.Allowed(); allowed {
					leaders++
				}
			}
			if ok && leaders == 1 {
				return n
			}
			if time.Now().After(deadline) {
				t.Fatalf("engines not shared within 10s: %v, %d state rule leaders", n, leaders)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	t.Logf("engines per replica: %v", owners(ss...))
	start := time.Now()
	cancels[2]()
	after := owners(ss[0], ss[1])
	t.Logf("c gone: its engines moved in %v: %v", time.Since(start), after)
	if _, _, owned := ss[0].Status(); len(owned) == 0 {
		t.Fatal("Status lists no engine owned")
	}
}
