package informer_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/internal/faultproxy"
	"github.com/samalba/docker-eventsd/internal/testenv"
)

// of returns the events about the named container, as "action[ synthetic]".
func (r *recorder) of(name string) []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, ev := range r.events {
		if ev.Container == nil || ev.Container.Name != name {
			continue
		}
		s := ev.Action
		if ev.Synthetic {
			s += " synthetic"
		}
		out = append(out, s)
	}
	return out
}

// TestRealEngineRelistTellsTheRunsNobodySaw: while the network to the engine is
// cut, three containers run in ways no state comparison can see, and their events
// are pushed out of the engine's ring:
//
//   - first: created, run and exited: first seen exited, it did start;
//   - again: seen exited before the cut, started again and exited again;
//   - restarted: seen running, restarted (died and started again).
//
// The relist inspects them and synthesizes each run they went through, in order:
// start then die, start then die, die then start. Before, the first got a die
// alone, the other two nothing.
func TestRealEngineRelistTellsTheRunsNobodySaw(t *testing.T) {
	engines := testenv.Engines(t)
	url := engines["a"]
	img := testenv.Image(t)
	onSharedEngine(t, url, func(t *testing.T, s *shared) {
		p := faultproxy.New(t, strings.TrimPrefix(url, "tcp://"))
		_, rec := startReal(t, p.URL(), informer.Options{Heartbeat: time.Second, HeartbeatTimeout: 500 * time.Millisecond})

		first, again, restarted := uniqueName(t, "first"), uniqueName(t, "again"), uniqueName(t, "restarted")
		s.run("run", "-d", "--network", "none", "--name", again, img, "true")
		s.find(rec, "die", again, 1, 20*time.Second)
		s.run("run", "-d", "--network", "none", "--name", restarted, img, "sleep", "600")
		s.find(rec, "start", restarted, 1, 20*time.Second)
		seenAgain, seenRestarted := len(rec.of(again)), len(rec.of(restarted))

		p.Set(faultproxy.Refuse)
		s.find(rec, informer.ActionEngineDown, "", 1, 10*time.Second)
		s.run("run", "-d", "--network", "none", "--name", first, img, "true")
		s.run("wait", first)
		s.run("start", again)
		s.run("wait", again)
		s.run("restart", "-t", "0", restarted)
		s.flushRing()
		p.Set(faultproxy.Pass)
		s.find(rec, informer.ActionEngineUp, "", 1, 30*time.Second)

		for _, tc := range []struct {
			name  string
			skip  int
			want  []string
			exits []int // exit code of each die, -1 when nobody saw it
		}{
			{first, 0, []string{"start synthetic", "die synthetic"}, []int{0}},
			{again, seenAgain, []string{"start synthetic", "die synthetic"}, []int{0}},
			{restarted, seenRestarted, []string{"die synthetic", "start synthetic"}, []int{-1}},
		} {
			got := rec.of(tc.name)[tc.skip:]
			if strings.Join(got, ",") != strings.Join(tc.want, ",") {
				s.check(false, "%s: after the cut got %q, want %q", tc.name, got, tc.want)
				continue
			}
			var exits []int
			rec.mu.Lock()
			for _, ev := range rec.events {
				if ev.Container != nil && ev.Container.Name == tc.name && ev.Action == "die" && ev.Synthetic {
					exits = append(exits, ev.Container.ExitCode)
				}
			}
			rec.mu.Unlock()
			s.check(fmt.Sprint(exits) == fmt.Sprint(tc.exits), "%s: synthesized dies have exit codes %v, want %v", tc.name, exits, tc.exits)
		}
	})
}
