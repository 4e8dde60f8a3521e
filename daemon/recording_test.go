package daemon

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// syncBuffer is a bytes.Buffer safe for the recorder and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(t *testing.T) []RecordLine {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []RecordLine
	sc := bufio.NewScanner(bytes.NewReader(s.b.Bytes()))
	for sc.Scan() {
		var l RecordLine
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			t.Fatalf("recording line %q: %v", sc.Text(), err)
		}
		out = append(out, l)
	}
	return out
}

func TestARecordingHoldsTheFirstListAndEveryEventWithItsContainerAndReplaysToTheSameRules(t *testing.T) {
	buf := &syncBuffer{}
	rec := NewRecorder(buf)
	once := sync.Once{}
	f := newFixtureWith(t, func(o *Options) {
		o.Observe, o.DryRun = rec, true
		o.Heartbeat, o.HeartbeatTimeout = 400*time.Millisecond, 100*time.Millisecond
		newClient := o.NewClient
		o.NewClient = func(e config.Engine) (informer.Client, error) {
			cl, err := newClient(e)
			once.Do(func() { // a container running before the recording began
				fk := cl.(interface {
					Create(id, name, image string, labels map[string]string)
					Start(id string)
				})
				fk.Create("pre", "pre", "img", nil)
				fk.Start("pre")
			})
			return cl, err
		}
	}, "", "a")
	ctx, cancel := context.WithTimeout(context.Background(), waitTimeout)
	defer cancel()
	rec.Baselines(ctx, f.d)
	f.run("a", "c1")
	f.fake("a").Die("c1", 3)
	waitLines(t, buf, func(ls []RecordLine) bool { return hasAction(ls, "die") })
	f.fake("a").SetDown(true)
	waitLines(t, buf, func(ls []RecordLine) bool { return hasAction(ls, informer.ActionEngineDown) })
	f.fake("a").SetDown(false)
	waitLines(t, buf, func(ls []RecordLine) bool { return hasAction(ls, informer.ActionEngineUp) })
	f.shutdown()
	if got := f.eventLines(); len(got) != 0 {
		t.Errorf("handlers ran in a dry run: %q", got)
	}

	lines := buf.lines(t)
	if b := lines[0].Baseline; b == nil || b.Engine != "a" || len(b.Containers) != 1 || b.Containers[0].Name != "pre" {
		t.Fatalf("first line = %+v, want the baseline of a with pre", lines[0])
	}
	var actions []string
	for _, l := range lines[1:] {
		if l.Event == nil {
			t.Fatalf("line %+v is no event", l)
		}
		if l.Event.Type == informer.TypeContainer && (l.Event.Container == nil || l.Event.Container.ID != "c1") {
			t.Errorf("event %+v without its cached container c1", l.Event)
		}
		actions = append(actions, l.Event.Action)
	}
	if got := strings.Join(actions, " "); !strings.HasPrefix(got, "create start die") || !strings.HasSuffix(got, "engine_down engine_up") {
		t.Errorf("recorded actions %q, want create start die ... engine_down engine_up", got)
	}

	r, err := NewReplay(context.Background(), ReplayOptions{Config: f.d.opts.Config})
	if err != nil {
		t.Fatal(err)
	}
	var fired []string
	for i := range lines {
		fires, err := r.Play(&lines[i])
		if err != nil {
			t.Fatal(err)
		}
		for _, fi := range fires {
			s := fi.Rule + ":" + fi.Event
			if fi.State {
				s = fi.Rule + ":" + strings.Repeat("+", fi.Count)
			} else {
				s += ":" + fi.Container
			}
			fired = append(fired, s)
		}
	}
	want := "running:+ started:start:c1 running:++ running:+"
	if got := strings.Join(fired, " "); got != want {
		t.Errorf("replay fired %q, want %q (the state rule over the replayed cache: pre, pre+c1, pre)", got, want)
	}
}

func hasAction(ls []RecordLine, action string) bool {
	for _, l := range ls {
		if l.Event != nil && l.Event.Action == action {
			return true
		}
	}
	return false
}

// waitLines waits until the recording satisfies ok.
func waitLines(t *testing.T, buf *syncBuffer, ok func([]RecordLine) bool) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for !ok(buf.lines(t)) {
		if time.Now().After(deadline) {
			t.Fatalf("recording not as wanted after %v: %+v", waitTimeout, buf.lines(t))
		}
		time.Sleep(10 * time.Millisecond)
	}
}
