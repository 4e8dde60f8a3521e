package ha

import (
	"fmt"
	"math"
	"slices"
	"testing"
)

func TestOwnerIsTheSameWhateverTheOrderOfTheMembers(t *testing.T) {
	members := []string{"r1", "r2", "r3", "r4"}
	rev := slices.Clone(members)
	slices.Reverse(rev)
	for i := range 1000 {
		key := fmt.Sprintf("engine-%d", i)
		if a, b := Owner(key, members), Owner(key, rev); a != b {
			t.Fatalf("%s: owner %s or %s depending on order", key, a, b)
		}
	}
	if got := Owner("x", nil); got != "" {
		t.Fatalf("Owner with no members = %q", got)
	}
}

// rendezvousSim assigns engines keys to replicas members, removes one
// member and adds a new one, and reports the balance and what moved.
type rendezvousSim struct {
	maxOverMean, minOverMean  float64
	movedOnLeave, movedOnJoin int
	onlyTheLeaversMoved       bool
	onlyToTheJoinerMoved      bool
}

func simulate(replicas, engines int) rendezvousSim {
	members := make([]string, replicas)
	for i := range members {
		members[i] = fmt.Sprintf("replica-%d", i)
	}
	owner := make([]string, engines)
	count := map[string]int{}
	for e := range engines {
		owner[e] = Owner(fmt.Sprintf("engine-%d", e), members)
		count[owner[e]]++
	}
	mean := float64(engines) / float64(replicas)
	sim := rendezvousSim{minOverMean: math.Inf(1), onlyTheLeaversMoved: true, onlyToTheJoinerMoved: true}
	for _, m := range members {
		sim.maxOverMean = max(sim.maxOverMean, float64(count[m])/mean)
		sim.minOverMean = min(sim.minOverMean, float64(count[m])/mean)
	}
	gone := members[replicas/2]
	less := slices.DeleteFunc(slices.Clone(members), func(m string) bool { return m == gone })
	more := append(slices.Clone(members), "replica-new")
	for e := range engines {
		key := fmt.Sprintf("engine-%d", e)
		if o := Owner(key, less); o != owner[e] {
			sim.movedOnLeave++
			sim.onlyTheLeaversMoved = sim.onlyTheLeaversMoved && owner[e] == gone
		}
		if o := Owner(key, more); o != owner[e] {
			sim.movedOnJoin++
			sim.onlyToTheJoinerMoved = sim.onlyToTheJoinerMoved && o == "replica-new"
		}
	}
	return sim
}

func TestRendezvousMovesOnlyTheEnginesOfTheReplicaThatLeftOrJoined(t *testing.T) {
	tests := []struct{ replicas, engines int }{{3, 1000}, {10, 10000}}
	if !testing.Short() {
		tests = append(tests, struct{ replicas, engines int }{100, 100000})
	}
	for _, tt := range tests {
		t.Run(fmt.Sprintf("%dx%d", tt.replicas, tt.engines), func(t *testing.T) {
			s := simulate(tt.replicas, tt.engines)
			t.Logf("%d replicas × %d engines: per replica %.3f–%.3f of the mean; one leaves: %d moved (%.2f%%); one joins: %d moved (%.2f%%)",
				tt.replicas, tt.engines, s.minOverMean, s.maxOverMean,
				s.movedOnLeave, 100*float64(s.movedOnLeave)/float64(tt.engines), s.movedOnJoin, 100*float64(s.movedOnJoin)/float64(tt.engines))
			if !s.onlyTheLeaversMoved || !s.onlyToTheJoinerMoved {
				t.Fatal("an engine moved between two replicas that stayed")
			}
			// Each replica holds about 1/n: within 5 standard deviations of
			// a binomial draw.
			mean := float64(tt.engines) / float64(tt.replicas)
			slack := 5 * math.Sqrt(mean) / mean
			if s.maxOverMean > 1+slack || s.minOverMean < 1-slack {
				t.Fatalf("balance %.3f–%.3f of the mean, want within ±%.3f", s.minOverMean, s.maxOverMean, slack)
			}
			if want := float64(tt.engines) / float64(tt.replicas); math.Abs(float64(s.movedOnLeave)-want) > 5*math.Sqrt(want) {
				t.Fatalf("%d moved when one of %d left, want about %.0f", s.movedOnLeave, tt.replicas, want)
			}
		})
	}
}
