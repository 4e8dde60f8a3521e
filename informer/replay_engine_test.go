package informer_test

import (
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/internal/faultproxy"
	"github.com/samalba/docker-eventsd/internal/testenv"
)

// TestRealQuietEngineReplaysWhatHappenedDuringItsFirstCut: the informer has seen no
// event of the engine since it started, and the network to the engine is cut (a
// proxy refuses: the engine keeps its ring). Meanwhile a container is run to its
// end and removed: the relist after the cut cannot see it, so only a replay can
// tell. The informer replays from the engine time it read when it was in sync, and
// the container's events reach the handler as the real events they were (not
// synthesized). Before, with no event seen, the first reconnect asked for no
// replay and the container's whole life was lost.
//
// The engine is shared with other tests: if they make it emit events before the
// cut, the informer has seen one and replays from it, and the test still checks
// that nothing is lost, but no longer the quiet case (it says so).
func TestRealQuietEngineReplaysWhatHappenedDuringItsFirstCut(t *testing.T) {
	engines := testenv.Engines(t)
	url := engines["a"]
	img := testenv.Image(t)
	onSharedEngine(t, url, func(t *testing.T, s *shared) {
		p := faultproxy.New(t, strings.TrimPrefix(url, "tcp://"))
		_, rec := startReal(t, p.URL(), informer.Options{Heartbeat: time.Second, HeartbeatTimeout: 500 * time.Millisecond})
		time.Sleep(replayPointSettled)
		if got := rec.lines(); len(got) != 0 {
			t.Logf("the engine was not quiet (other tests use it): %d events before the cut", len(got))
		}

		p.Set(faultproxy.Refuse)
		s.find(rec, informer.ActionEngineDown, "", 1, 10*time.Second)
		brief := uniqueName(t, "brief")
		s.run("run", "--name", brief, "--network", "none", img, "true")
		s.run("rm", brief)
		p.Set(faultproxy.Pass)
		s.find(rec, informer.ActionEngineUp, "", 1, 30*time.Second)

		for _, action := range []string{"create", "start", "die", "destroy"} {
			ev := s.find(rec, action, brief, 1, 10*time.Second)
			s.check(!ev.Synthetic, "%s of the container run during the cut was synthesized, want the engine's replayed event", action)
			if action == "die" {
				s.check(ev.Container.ExitCode == 0, "die exit code %d, want 0", ev.Container.ExitCode)
			}
		}
	})
}
