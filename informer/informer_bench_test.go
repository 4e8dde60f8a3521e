package informer

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
)

// The hot path of an informer, per streamed event: dedup, cache apply,
// MakeID, the Event handed on. docs/BENCHMARKS.md records these numbers; the
// end-to-end ingest benchmark is test/bench (P2).

// benchActions is what each container goes through, over and over: a
// coherent life (a die before each start), so that nothing is synthesized.
var benchActions = []string{"kill", "die", "start", "health_status: healthy", "kill", "health_status: unhealthy"}

// benchCycle is a whole number of every container's cycles.
const benchCycle = 100 * 6 * 100

// benchMessages returns n events over containers c0..c99, as an engine
// streams them (labels and name/image in the attributes); container i%100
// goes through benchActions in turn.
func benchMessages(n int) []events.Message {
	out := make([]events.Message, n)
	t0 := time.Now().UnixNano()
	for i := range out {
		id := "c" + strconv.Itoa(i%100)
		attrs := map[string]string{"name": id, "image": "bench/app:1", "com.example.app": "bench", "com.example.index": strconv.Itoa(i % 100)}
		a := benchActions[(i/100)%len(benchActions)]
		switch a {
		case "kill":
			attrs["signal"] = "10"
		case "die":
			attrs["exitCode"] = "0"
		}
		out[i] = events.Message{Type: events.ContainerEventType, Action: events.Action(a), Scope: "local",
			Actor: events.Actor{ID: id, Attributes: attrs}, Time: (t0 + int64(i)) / 1e9, TimeNano: t0 + int64(i)}
	}
	return out
}

// benchInformer returns a synced informer whose cache holds c0..c99, with a
// handler that discards.
func benchInformer(b *testing.B) *Informer {
	b.Helper()
	inf := New(Options{Name: "bench", Handler: HandlerFunc(func(*Event) {})})
	items := make([]container.Summary, 100)
	for i := range items {
		id := "c" + strconv.Itoa(i)
		items[i] = container.Summary{ID: id, Names: []string{"/" + id}, Image: "bench/app:1", State: container.StateRunning,
			Status: "Up 2 minutes", Labels: map[string]string{"com.example.app": "bench"}}
	}
	if err := inf.resync(context.Background(), items, newBuffer()); err != nil {
		b.Fatal(err)
	}
	return inf
}

// BenchmarkApply is the processor's work for one streamed event.
func BenchmarkApply(b *testing.B) {
	inf := benchInformer(b)
	msgs := benchMessages(benchCycle)
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	t0 := time.Now().UnixNano()
	for i := 0; i < b.N; i++ {
		m := msgs[i%benchCycle]
		m.TimeNano = t0 + int64(i) // every event newer than the last, as streamed
		inf.apply(ctx, &m, nil)
	}
}

// BenchmarkApplyReplay is the processor's work for an event replayed after a
// reconnect (dropped by dedup).
func BenchmarkApplyReplay(b *testing.B) {
	inf := benchInformer(b)
	msgs := benchMessages(256)
	ctx := context.Background()
	for i := range msgs {
		inf.apply(ctx, &msgs[i], nil)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		inf.apply(ctx, &msgs[i&255], nil)
	}
}

// TestMakeIDIsStable pins MakeID's output: IDs are handed to handlers as
// EVENT_ID and kept across restarts, so a faster MakeID must give the same.
func TestMakeIDIsStable(t *testing.T) {
	for _, c := range []struct {
		engine, actor, action string
		nano                  int64
		synthetic             bool
		want                  string
	}{
		{"engine-1", "8c9aa028615454d891c987aa3604fed1be88a32374db51839f3c382f1984dca2", "kill", 1795762458241348996, false, "cbc4fe70fe7bc5249b8b25ab"},
		{"e", "", "engine_down", -5, true, "b142ffc62986dcabc64e9662"},
		{"", "x", "health_status: healthy", 0, false, "0172e253d0b0a4becfe20c08"},
	} {
		if got := MakeID(c.engine, c.nano, c.actor, c.action, c.synthetic); got != c.want {
			t.Errorf("MakeID(%q, %d, %q, %q, %v) = %s, want %s", c.engine, c.nano, c.actor, c.action, c.synthetic, got, c.want)
		}
	}
}

func BenchmarkMakeID(b *testing.B) {
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		_ = MakeID("engine-1", int64(1700000000000000000+i), "8c9aa028615454d891c987aa3604fed1be88a32374db51839f3c382f1984dca2", "kill", false)
	}
}

func BenchmarkDedupSeen(b *testing.B) {
	d := newDedup()
	id := "8c9aa028615454d891c987aa3604fed1be88a32374db51839f3c382f1984dca2"
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		d.seen(eventKey{timeNano: int64(i), id: id, action: "kill"})
	}
}

// BenchmarkBufferPushTake is the hand-off between the reader goroutine and
// the processor.
func BenchmarkBufferPushTake(b *testing.B) {
	buf := newBuffer()
	ctx := context.Background()
	msgs := benchMessages(64)
	done := make(chan struct{})
	go func() {
		defer close(done)
		batch := make([]events.Message, 0, 64)
		n := 0
		for n < b.N {
			var err error
			batch, err = buf.take(ctx, batch)
			if err != nil {
				return
			}
			n += len(batch)
		}
	}()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		buf.push(msgs[i&63])
	}
	<-done
}

// BenchmarkCacheGetParallel is readers (the controller's state rules, the
// handlers' stdin) against the informer's writes.
func BenchmarkCacheGetParallel(b *testing.B) {
	inf := benchInformer(b)
	c := inf.Cache()
	stop := make(chan struct{})
	go func() {
		ct := c.Get("c1")
		for {
			select {
			case <-stop:
				return
			default:
				c.set(ct)
			}
		}
	}()
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			_ = c.Get("c" + strconv.Itoa(i%100))
			i++
		}
	})
	close(stop)
}
