package informer

import (
	"context"
	"reflect"
	"testing"

	"github.com/moby/moby/api/types/events"
)

func TestCursorSinceReplaysFromTheNewestEventOrTheReplayPoint(t *testing.T) {
	t.Parallel()
	const t0 = int64(1700000000000000000)
	tests := []struct {
		name string
		c    cursor
		want string
	}{
		{name: "nothing known", want: ""},
		{name: "replay point only: no margin", c: cursor{replayPoint: t0}, want: "1700000000.000000000"},
		{name: "last seen: the margin before it", c: cursor{lastSeen: t0 + int64(replayMargin), replayPoint: 1}, want: "1700000000.000000000"},
		{name: "never before the floor", c: cursor{lastSeen: t0 + 1, firstSeen: t0}, want: "1700000000.000000000"},
	}
	for _, tt := range tests {
		if got := tt.c.since(); got != tt.want {
			t.Errorf("%s: since = %q, want %q", tt.name, got, tt.want)
		}
	}
}

func TestCursorDurableFormRoundTrips(t *testing.T) {
	t.Parallel()
	const t0 = int64(1700000000000000000)
	var c cursor
	keys := []eventKey{
		{timeNano: t0, id: "a", action: "start"},                           // outside the margin of the last
		{timeNano: t0 + int64(replayMargin), id: "a", action: "kill"},      // at its edge
		{timeNano: t0 + int64(replayMargin) + 2, id: "b", action: "start"}, // the last
		{timeNano: t0 + int64(replayMargin) + 1, id: "c", action: "die"},   // out of order
	}
	for _, k := range keys {
		if c.see(k) {
			t.Fatalf("%+v seen before", k)
		}
	}
	c.setReplayPoint(t0 - 5)
	var cp Checkpoint
	c.save(&cp)
	want := Checkpoint{LastSeen: keys[2].timeNano, FirstSeen: t0, ReplayFrom: t0 - 5, Recent: []RecentEvent{
		{TimeNano: keys[1].timeNano, ActorID: "a", Action: "kill"},
		{TimeNano: keys[2].timeNano, ActorID: "b", Action: "start"},
		{TimeNano: keys[3].timeNano, ActorID: "c", Action: "die"},
	}}
	if !reflect.DeepEqual(cp, want) {
		t.Fatalf("saved %+v, want %+v", cp, want)
	}
	var back cursor
	back.load(&cp)
	for _, k := range keys[1:] {
		if !back.see(k) {
			t.Errorf("%+v not remembered after load", k)
		}
	}
	if !back.anchorReplayed || back.since() != c.since() {
		t.Errorf("loaded: anchor replayed %v, since %q; want true, %q", back.anchorReplayed, back.since(), c.since())
	}
}

func TestBufferKeepsOrderThroughGrowthAndWrapAround(t *testing.T) {
	t.Parallel()
	for _, n := range []int{1, 15, 16, 17, 1000} {
		b := newBuffer()
		var batch []events.Message
		for round := range 3 {
			for i := range n {
				b.push(events.Message{TimeNano: int64(round*n + i)})
			}
			var err error
			if batch, err = b.take(context.Background(), batch); err != nil || len(batch) != n {
				t.Fatalf("%d events: took %d, %v", n, len(batch), err)
			}
			for i, m := range batch {
				if m.TimeNano != int64(round*n+i) {
					t.Fatalf("%d events, round %d: event %d is %d", n, round, i, m.TimeNano)
				}
			}
		}
		b.close(context.Canceled)
		if _, err := b.take(context.Background(), batch); err != context.Canceled {
			t.Errorf("after close: %v, want the stream's error", err)
		}
	}
}
