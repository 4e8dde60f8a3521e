package informer_test

import (
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/informer/informertest"
)

// runLinked runs an informer on a fake engine through a link, with these
// options, and returns it once synced.
func runLinked(t *testing.T, l *link, opts informer.Options) (*informer.Informer, *recorder) {
	t.Helper()
	inf, rec, _ := runLinkedUntilStopped(t, l, opts)
	return inf, rec
}

// runLinkedUntilStopped is runLinked, and returns a func that stops the informer
// (a daemon that goes away) and waits for it.
func runLinkedUntilStopped(t *testing.T, l *link, opts informer.Options) (*informer.Informer, *recorder, func()) {
	t.Helper()
	rec := &recorder{}
	opts.Name, opts.URL, opts.Client = "e1", "fake://e1", l
	if opts.Handler == nil {
		opts.Handler = rec
	}
	if opts.MinBackoff == 0 {
		opts.MinBackoff, opts.MaxBackoff = 10*time.Millisecond, 40*time.Millisecond
	}
	inf, stop := run(t, opts, 1)
	waitSynced(t, inf, 10*time.Second)
	return inf, rec, stop
}

// TestBlackholedEngineIsDownWithinTheHeartbeatOfItsLastSignOfLife is P5's
// blackhole on a fake engine: the engine answers a ping, then nothing ever again
// (the worst moment for a heartbeat that pings at a fixed interval). engine_down
// must come within Heartbeat of that answer — the target is Heartbeat + 1 s — even
// though each ping may take HeartbeatTimeout: the heartbeat pings once the engine
// has been quiet for Heartbeat - HeartbeatTimeout. Pinging every Heartbeat, it
// came Heartbeat + HeartbeatTimeout after (here 5 s).
func TestBlackholedEngineIsDownWithinTheHeartbeatOfItsLastSignOfLife(t *testing.T) {
	const heartbeat, timeout = 3 * time.Second, 2 * time.Second
	l := newLink(informertest.New())
	_, rec := runLinked(t, l, informer.Options{Heartbeat: heartbeat, HeartbeatTimeout: timeout})
	l.SilenceAfterNextPing()
	down := rec.find(t, informer.ActionEngineDown, "", 3*heartbeat)
	took := down.Time.Sub(l.LastPing())
	t.Logf("engine_down %v after the last answered ping (heartbeat %v, ping timeout %v)", took, heartbeat, timeout)
	// The bound is Heartbeat; the 1 s above it is the target's slack, for
	// timers on a loaded machine.
	if took > heartbeat+time.Second {
		t.Fatalf("engine_down %v after the engine's last sign of life, want at most %v (+1 s)", took, heartbeat)
	}
}

// TestEventsAreSignsOfLife: an engine whose stream delivers events is alive, and
// is not pinged while events keep coming.
func TestEventsAreSignsOfLife(t *testing.T) {
	const heartbeat, timeout = 3 * time.Second, time.Second
	eng := informertest.New()
	eng.Create("c1", "c1", "img", nil)
	l := newLink(eng)
	inf, rec := runLinked(t, l, informer.Options{Heartbeat: heartbeat, HeartbeatTimeout: timeout})
	waitFor(t, "subscription", func() bool { return eng.Subscribers() == 1 })

	pings := eng.Calls("Ping")
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case <-stop:
				return
			case <-time.After(50 * time.Millisecond):
				eng.Emit("kill", "c1", map[string]string{"signal": "10"})
			}
		}
	}()
	time.Sleep(heartbeat + 2*timeout)
	close(stop)
	<-done
	if n := eng.Calls("Ping") - pings; n != 0 {
		t.Errorf("the heartbeat pinged %d times an engine that streamed events all along", n)
	}
	if l := rec.lines(); indexOf(l, "engine_down synthetic") >= 0 || !inf.Up() || inf.Sessions() != 1 {
		t.Fatalf("an engine streaming events was declared down (sessions %d): %q", inf.Sessions(), l)
	}
}
