package ha

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"
)

func TestMembersSeeEachOtherAndADeadOneLosesItsEnginesToTheOthers(t *testing.T) {
	cli, prefix := testClient(t)
	var ms []*Membership
	var cancels []context.CancelFunc
	var wg sync.WaitGroup
	for _, id := range []string{"a", "b", "c"} {
		m := NewMembership(Options{Client: cli, Prefix: prefix, TTL: 2 * time.Second, ID: id})
		ctx, cancel := context.WithCancel(context.Background())
		wg.Go(func() { m.Run(ctx) })
		ms, cancels = append(ms, m), append(cancels, cancel)
	}
	defer func() {
		for _, c := range cancels {
			c()
		}
		wg.Wait()
	}()
	waitMembers := func(want []string, ms ...*Membership) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for _, m := range ms {
			for !slices.Equal(m.Members(), want) {
				if time.Now().After(deadline) {
					t.Fatalf("%s sees %v, want %v", m.opts.ID, m.Members(), want)
				}
				time.Sleep(10 * time.Millisecond)
			}
		}
	}
	waitMembers([]string{"a", "b", "c"}, ms...)
	owners := func(ms ...*Membership) map[string]int {
		n := map[string]int{}
		for e := range 300 {
			key := fmt.Sprintf("engine-%d", e)
			owned := 0
			for _, m := range ms {
				if m.Owns(key) {
					owned++
					n[m.opts.ID]++
				}
			}
			if owned != 1 {
				t.Fatalf("%s owned by %d replicas", key, owned)
			}
		}
		return n
	}
	t.Logf("engines per replica: %v", owners(ms...))
	// c leaves (its context ends; a crash would let its lease expire).
	start := time.Now()
	cancels[2]()
	waitMembers([]string{"a", "b"}, ms[0], ms[1])
	t.Logf("c gone from the others' view after %v; engines per replica: %v", time.Since(start), owners(ms[0], ms[1]))
}
