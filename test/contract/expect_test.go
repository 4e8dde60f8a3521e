package contract_test

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/informer"
)

// waitFor polls cond until it holds, the run fails, the informer loses the
// engine, or 30 s pass. cond also says what it saw, for the failure.
func (s *scenario) waitFor(what string, cond func() (bool, string)) {
	if s.err != nil {
		return
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		ok, saw := cond()
		switch {
		case ok || s.err != nil:
			return
		case s.rec.interrupted() != nil:
			s.fail(fmt.Errorf("waiting for %s: %w", what, s.rec.interrupted()))
			return
		case time.Now().After(deadline):
			s.fail(fmt.Errorf("waiting for %s, got %s; transcript so far:\n%s", what, saw, strings.Join(s.lines, "\n")))
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// mine reports whether an event is of one of the scenario's containers.
func (s *scenario) mine(ev *informer.Event) bool {
	return ev.Container != nil && strings.HasPrefix(ev.Container.Name, s.prefix)
}

// pending returns the scenario's events not yet in the transcript, and the
// index of each in the recorder.
func (s *scenario) pending() ([]*informer.Event, []int) {
	all := s.rec.snapshot()
	var evs []*informer.Event
	var idx []int
	for i := s.seen; i < len(all); i++ {
		if s.mine(all[i]) {
			evs = append(evs, all[i])
			idx = append(idx, i)
		}
	}
	return evs, idx
}

// await waits until done holds for the pending events, and returns them.
func (s *scenario) await(what string, done func(actions []string) bool) ([]*informer.Event, []int) {
	var evs []*informer.Event
	var idx []int
	s.waitFor(what, func() (bool, string) {
		evs, idx = s.pending()
		return done(actionsOf(evs)), fmt.Sprintf("%q", actionsOf(evs))
	})
	return evs, idx
}

// take adds the events to the transcript, and moves past the pending events
// up to the index-th (and others' events before it).
func (s *scenario) take(index int, evs ...*informer.Event) {
	for _, ev := range evs {
		s.lines = append(s.lines, s.describe(ev))
	}
	s.seen = index + 1
}

func actionsOf(evs []*informer.Event) []string {
	out := make([]string, len(evs))
	for i, ev := range evs {
		out[i] = ev.Action
	}
	return out
}

// expect waits until the informer handed on the given actions, in this
// order, after those already in the transcript, and adds them to it. Where
// the real engine gives these events the order is defined: each comes from
// the API call the scenario makes, or from the health monitor at least one
// interval after the call that changes the health.
func (s *scenario) expect(actions ...string) {
	evs, idx := s.await(fmt.Sprintf("%q", actions), func(got []string) bool { return len(got) >= len(actions) })
	if s.err != nil {
		return
	}
	n := len(actions)
	s.take(idx[n-1], evs[:n]...)
	if got := actionsOf(evs[:n]); !slices.Equal(got, actions) {
		s.fail(fmt.Errorf("%s: events %q, want %q; transcript so far:\n%s", s.inf.Name(), got, actions, strings.Join(s.lines, "\n")))
	}
}

const healthy = "health_status: healthy"

// afterUnpause are the sequences a real engine may give after an unpause of
// a container with a health check. The order is not defined there: dockerd
// logs pause in its API handler, and logs it again when containerd's
// TaskPaused reaches its per-container event queue if the container is not
// paused any more by then (dockerd 20.10, daemon/monitor.go, EventPaused and
// EventResumed). Under load that event comes after the unpause: dockerd then
// logs a stale pause and, at the TaskResumed behind it, a stale unpause; the
// stale pause also stops the health monitor (the status turns unhealthy
// without an event), so the first check after the stale unpause reports
// healthy again, and a healthy of the first check may come before the pair.
// The fake gives the first sequence.
var afterUnpause = [][]string{
	{"unpause", healthy},
	{"unpause", "pause", "unpause", healthy},
	{"unpause", healthy, "pause", "unpause", healthy},
}

// expectUnpause is expect("unpause", healthy) where the real engine may add a
// stale pause and unpause (afterUnpause): it waits until the engine can add
// no more of them, checks the sequence, and adds the first unpause and the
// last healthy to the transcript.
func (s *scenario) expectUnpause(name string) {
	s.sync(name)
	evs, idx := s.await(fmt.Sprintf("one of %q", afterUnpause), func(got []string) bool {
		last := lastIndex(got, "unpause")
		return last >= 0 && slices.Contains(got[last+1:], healthy)
	})
	if s.err != nil {
		return
	}
	// Up to the first healthy after the last unpause.
	got := actionsOf(evs)
	last := lastIndex(got, "unpause")
	end := last + 1 + slices.Index(got[last+1:], healthy)
	seq := got[:end+1]
	if len(seq) > 2 {
		s.notes = append(s.notes, fmt.Sprintf("a stale pause after the unpause: %q", seq))
	}
	s.take(idx[end], evs[0], evs[end])
	if !slices.ContainsFunc(afterUnpause, func(w []string) bool { return slices.Equal(w, seq) }) {
		s.fail(fmt.Errorf("%s: events %q, want one of %q; transcript so far:\n%s", s.inf.Name(), seq, afterUnpause, strings.Join(s.lines, "\n")))
	}
}

// lastIndex returns the index of the last v in list, or -1.
func lastIndex(list []string, v string) int {
	for i := len(list) - 1; i >= 0; i-- {
		if list[i] == v {
			return i
		}
	}
	return -1
}

// sync returns once the informer has every event the engine logged for the
// container so far, even those dockerd logs late from containerd's events:
// it runs an exec to its end (dockerd handles a container's containerd
// events one at a time, in order, and sets an exec's exit status at the
// exec's exit event, after those before it), then waits for the informer to
// hand on a marker's create (the engine streams events in the order it logs
// them). A stale pause (see afterUnpause) makes dockerd refuse the exec until
// the stale unpause behind it: the exec is tried again meanwhile.
func (s *scenario) sync(name string) {
	var id string
	s.waitFor("an exec in "+name, func() (bool, string) {
		var err error
		id, err = s.startExec(name, "true")
		if err != nil && !strings.Contains(err.Error(), "is paused") {
			s.check("exec true in "+name, err)
		}
		return err == nil, fmt.Sprint(err)
	})
	if code := s.execEnd(id, "exec true in "+name); s.err == nil && code != 0 {
		s.fail(fmt.Errorf("exec true in %s: exit status %d", name, code))
	}
	if !s.markerSeen(30*time.Second) && s.err == nil {
		s.fail(fmt.Errorf("%s: the informer did not hand on a marker's create", s.inf.Name()))
	}
}

// warmUp returns once the informer's stream carries the engine's new events.
// The informer is in sync once it has listed the containers, with its event
// stream's response headers received; but dockerd (and the fake, like it)
// sends those headers before it subscribes the stream to new events, and an
// informer that has seen no event yet asks for no replay: an event logged in
// between never reaches it. Markers are made until the informer hands one on.
func (s *scenario) warmUp() {
	for i := 0; i < 15 && s.err == nil; i++ {
		if s.markerSeen(2 * time.Second) {
			return
		}
	}
	s.fail(fmt.Errorf("%s: the informer handed on none of 15 markers' create", s.inf.Name()))
}

// markerSeen creates a marker container (outside the scenario's prefix: not
// in the transcript) and reports whether the informer hands on its create
// within d.
func (s *scenario) markerSeen(d time.Duration) bool {
	if s.err != nil {
		return false
	}
	marker := fmt.Sprintf("contract-marker-%d", time.Now().UnixNano())
	s.markers = append(s.markers, marker)
	s.check("create marker", errOf(s.cli.ContainerCreate(s.ctx, client.ContainerCreateOptions{Name: marker,
		Config: &container.Config{Image: s.image, Cmd: []string{"true"}}, HostConfig: &container.HostConfig{NetworkMode: "none"}})))
	deadline := time.Now().Add(d)
	for s.err == nil {
		for _, ev := range s.rec.snapshot() {
			if ev.Container != nil && ev.Container.Name == marker && ev.Action == "create" {
				return true
			}
		}
		if err := s.rec.interrupted(); err != nil {
			s.fail(fmt.Errorf("waiting for a marker: %w", err))
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(10 * time.Millisecond)
	}
	return false
}

// describe renders an event without what differs between runs.
func (s *scenario) describe(ev *informer.Event) string {
	c := ev.Container
	var b strings.Builder
	fmt.Fprintf(&b, "event %s %s state=%s health=%s exit=%d synthetic=%v labels=%s attrs=%s",
		ev.Action, strings.TrimPrefix(c.Name, s.prefix), c.State, c.Health, c.ExitCode, ev.Synthetic,
		kvs(c.Labels, nil), kvs(ev.Attributes, map[string]string{"name": "NAME", "image": "IMAGE", "oldName": "OLD", "execID": "ID"}))
	return b.String()
}

// cache adds the cache's view of the scenario's containers to the transcript.
func (s *scenario) cache(when string) {
	if s.err != nil {
		return
	}
	s.lines = append(s.lines, "cache "+when)
	for _, c := range s.inf.Cache().List() {
		if !strings.HasPrefix(c.Name, s.prefix) {
			continue
		}
		s.lines = append(s.lines, fmt.Sprintf("  %s state=%s health=%s exit=%d labels=%s created=%v",
			strings.TrimPrefix(c.Name, s.prefix), c.State, c.Health, c.ExitCode, kvs(c.Labels, nil), !c.Created.IsZero()))
	}
}

// kvs renders a map sorted, with some values replaced by placeholders.
func kvs(m map[string]string, placeholders map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		v := m[k]
		if p, ok := placeholders[k]; ok {
			v = p
		}
		parts[i] = k + "=" + v
	}
	return "{" + strings.Join(parts, ",") + "}"
}
