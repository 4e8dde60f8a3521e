package informer_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/informer/eventstream"
	"github.com/samalba/docker-eventsd/internal/faultproxy"
	"github.com/samalba/docker-eventsd/internal/testenv"
)

// watched is a real engine's client that notes the engine's signs of life (an
// answered ping, an event) and can run a hook when a ping is answered.
type watched struct {
	informer.Client
	mu        sync.Mutex
	lastLife  time.Time
	afterPing func() // run once, when the next ping is answered
}

func (w *watched) life() time.Time {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lastLife
}

// onNextPing runs f when the engine answers the next ping (before the informer
// sees the answer).
func (w *watched) onNextPing(f func()) {
	w.mu.Lock()
	w.afterPing = f
	w.mu.Unlock()
}

// Info tells the engine's time, as the client does.
func (w *watched) Info(ctx context.Context, opts client.InfoOptions) (client.SystemInfoResult, error) {
	return w.Client.(informer.EngineClock).Info(ctx, opts)
}

func (w *watched) Ping(ctx context.Context, opts client.PingOptions) (client.PingResult, error) {
	r, err := w.Client.Ping(ctx, opts)
	if err == nil {
		w.mu.Lock()
		w.lastLife = time.Now()
		f := w.afterPing
		w.afterPing = nil
		w.mu.Unlock()
		if f != nil {
			f()
		}
	}
	return r, err
}

// EventStream notes each event of the engine's stream as a sign of life.
func (w *watched) EventStream(ctx context.Context, opts client.EventsListOptions) (eventstream.Stream, error) {
	inner, err := w.Client.EventStream(ctx, opts)
	if err != nil {
		return nil, err
	}
	return &watchedStream{Stream: inner, w: w}, nil
}

type watchedStream struct {
	eventstream.Stream
	w *watched
}

func (s *watchedStream) Next(m *events.Message) error {
	err := s.Stream.Next(m)
	if err == nil {
		s.w.mu.Lock()
		s.w.lastLife = time.Now()
		s.w.mu.Unlock()
	}
	return err
}

// runWatched runs an informer on url through a watched client, and returns it
// once synced.
func runWatched(t *testing.T, url string, opts informer.Options) (*watched, *recorder) {
	t.Helper()
	w := &watched{Client: realClient(t, url)}
	rec := &recorder{}
	opts.Name, opts.URL, opts.Client, opts.Handler = "real", url, w, rec
	opts.MinBackoff, opts.MaxBackoff = 50*time.Millisecond, 500*time.Millisecond
	inf, _ := run(t, opts, 0)
	waitSynced(t, inf, 30*time.Second)
	return w, rec
}

// TestRealEngineBlackholeIsDownWithinTheHeartbeat is P5's blackhole on a real
// engine, with the default --heartbeat 5s and --heartbeat-timeout 2s: the proxy
// in front of the engine goes silent just after the engine answered a ping (the
// worst moment for a heartbeat that pings at a fixed interval: it took interval +
// timeout, 7 s), or, when the engine is too busy streaming events to be pinged, at
// once. engine_down must come within --heartbeat + 1 s of the engine's last sign
// of life. Three trials; the times are logged (docs/RELIABILITY.md records them).
func TestRealEngineBlackholeIsDownWithinTheHeartbeat(t *testing.T) {
	engines := testenv.Engines(t)
	url := engines["a"]
	onSharedEngine(t, url, func(t *testing.T, s *shared) {
		p := faultproxy.New(t, strings.TrimPrefix(url, "tcp://"))
		w, rec := runWatched(t, p.URL(), informer.Options{})
		const trials = 3
		var worst time.Duration
		for i := 1; i <= trials; i++ {
			cut := make(chan time.Time, 1)
			w.onNextPing(func() {
				p.Set(faultproxy.Blackhole)
				cut <- time.Now()
			})
			select {
			case <-cut:
			case <-time.After(2 * informer.DefaultHeartbeat):
				// Events kept the engine from being pinged: cut now.
				w.onNextPing(nil)
				p.Set(faultproxy.Blackhole)
			}
			last := w.life()
			down := s.find(rec, informer.ActionEngineDown, "", i, 4*informer.DefaultHeartbeat)
			took := down.Time.Sub(last)
			worst = max(worst, took)
			t.Logf("trial %d: engine_down %v after the engine's last sign of life", i, took)
			s.check(took <= informer.DefaultHeartbeat+time.Second,
				"trial %d: engine_down %v after the last sign of life, want at most --heartbeat + 1 s (%v)", i, took, informer.DefaultHeartbeat+time.Second)
			p.Set(faultproxy.Pass)
			s.find(rec, informer.ActionEngineUp, "", i, 60*time.Second)
		}
		t.Logf("worst of %d: %v (--heartbeat %v, --heartbeat-timeout %v)", trials, worst, informer.DefaultHeartbeat, informer.DefaultHeartbeatTimeout)
	})
}
