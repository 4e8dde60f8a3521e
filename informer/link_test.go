package informer_test

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/informer/eventstream"
	"github.com/samalba/docker-eventsd/informer/informertest"
)

// errCut is what every call gets while a link is cut.
var errCut = errors.New("link: connection refused")

// link stands between an informer and a fake engine, like the network and a
// proxy would: it can be cut (calls fail, streams end: a partition, while the
// engine keeps its ring) or go silent (calls and streams hang: a blackhole). It
// also gives the engine a clock (informer.EngineClock: the fake stamps events
// with time.Now) and, when told, the StartedAt and FinishedAt an inspect reports.
type link struct {
	*informertest.Engine

	mu       sync.Mutex
	cut      bool
	silent   bool
	cutCh    chan struct{} // closed when the link is cut or goes silent
	armed    bool          // the next answered ping is the last sign of life
	lastPing time.Time     // when that ping answered
	runs     map[string][2]time.Time
}

func newLink(eng *informertest.Engine) *link {
	return &link{Engine: eng, cutCh: make(chan struct{}), runs: map[string][2]time.Time{}}
}

// Cut partitions the link (true) or heals it (false).
func (l *link) Cut(cut bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cut = cut
	if cut {
		l.breakStreams()
	}
}

// SilenceAfterNextPing makes the link go silent just after the next ping the
// engine answers; LastPing then tells when that was.
func (l *link) SilenceAfterNextPing() {
	l.mu.Lock()
	l.armed = true
	l.mu.Unlock()
}

// LastPing returns when the ping before the silence answered.
func (l *link) LastPing() time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.lastPing
}

// SetRun makes an inspect of id report these StartedAt and FinishedAt.
func (l *link) SetRun(id string, started, finished time.Time) {
	l.mu.Lock()
	l.runs[id] = [2]time.Time{started, finished}
	l.mu.Unlock()
}

func (l *link) breakStreams() {
	close(l.cutCh)
	l.cutCh = make(chan struct{})
}

// gate returns the error a call gets now, after waiting for its context when the
// link is silent; and the channel closed when the link next breaks.
func (l *link) gate(ctx context.Context) (<-chan struct{}, error) {
	l.mu.Lock()
	cut, silent, ch := l.cut, l.silent, l.cutCh
	l.mu.Unlock()
	switch {
	case cut:
		return nil, errCut
	case silent:
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return ch, nil
}

func (l *link) Ping(ctx context.Context, opts client.PingOptions) (client.PingResult, error) {
	if _, err := l.gate(ctx); err != nil {
		return client.PingResult{}, err
	}
	r, err := l.Engine.Ping(ctx, opts)
	if err == nil {
		l.mu.Lock()
		if l.armed {
			l.armed, l.silent, l.lastPing = false, true, time.Now()
			l.breakStreams()
		}
		l.mu.Unlock()
	}
	return r, err
}

func (l *link) Info(ctx context.Context, _ client.InfoOptions) (client.SystemInfoResult, error) {
	if _, err := l.gate(ctx); err != nil {
		return client.SystemInfoResult{}, err
	}
	return client.SystemInfoResult{Info: system.Info{SystemTime: time.Now().Format(time.RFC3339Nano)}}, nil
}

func (l *link) ContainerList(ctx context.Context, opts client.ContainerListOptions) (client.ContainerListResult, error) {
	if _, err := l.gate(ctx); err != nil {
		return client.ContainerListResult{}, err
	}
	return l.Engine.ContainerList(ctx, opts)
}

func (l *link) ContainerInspect(ctx context.Context, id string, opts client.ContainerInspectOptions) (client.ContainerInspectResult, error) {
	if _, err := l.gate(ctx); err != nil {
		return client.ContainerInspectResult{}, err
	}
	r, err := l.Engine.ContainerInspect(ctx, id, opts)
	if err != nil {
		return r, err
	}
	l.mu.Lock()
	run, ok := l.runs[id]
	l.mu.Unlock()
	if ok && r.Container.State != nil {
		st := *r.Container.State
		st.StartedAt, st.FinishedAt = dockerTime(run[0]), dockerTime(run[1])
		r.Container.State = &st
	}
	return r, nil
}

// dockerTime formats t as Docker does in State, the zero time included.
func dockerTime(t time.Time) string {
	return t.UTC().Format(time.RFC3339Nano)
}

// EventStream forwards the engine's stream until the link breaks: a cut ends
// it with an error, a silence leaves it open and empty.
func (l *link) EventStream(ctx context.Context, opts client.EventsListOptions) (eventstream.Stream, error) {
	broken, err := l.gate(ctx)
	if err != nil {
		return nil, err
	}
	s, err := l.Engine.EventStream(ctx, opts)
	if err != nil {
		return nil, err
	}
	inner := pump(ctx, s)
	msgs := make(chan events.Message)
	errs := make(chan error, 1)
	go func() {
		for {
			select {
			case m := <-inner.Messages:
				select {
				case msgs <- m:
				case <-broken:
					l.afterBreak(ctx, errs)
					return
				case <-ctx.Done():
					errs <- ctx.Err()
					return
				}
			case err := <-inner.Err:
				errs <- err
				return
			case <-broken:
				l.afterBreak(ctx, errs)
				return
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
		}
	}()
	return eventstream.FromChannels(ctx, client.EventsResult{Messages: msgs, Err: errs}), nil
}

// pump reads s on a goroutine of its own, into channels a fault can be
// selected against, until s or ctx ends.
func pump(ctx context.Context, s eventstream.Stream) client.EventsResult {
	msgs := make(chan events.Message)
	errs := make(chan error, 1)
	go func() {
		defer s.Close()
		for {
			var m events.Message
			if err := s.Next(&m); err != nil {
				errs <- err
				return
			}
			select {
			case msgs <- m:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
		}
	}()
	return client.EventsResult{Messages: msgs, Err: errs}
}

// afterBreak ends a stream the link broke: at once when cut, when its context
// ends when silent.
func (l *link) afterBreak(ctx context.Context, errs chan<- error) {
	l.mu.Lock()
	silent := l.silent
	l.mu.Unlock()
	if silent {
		<-ctx.Done()
		errs <- ctx.Err()
		return
	}
	errs <- errCut
}

// exitedStatus is the list's status of a container that exited with code.
func exitedStatus(code string) (container.ContainerState, string) {
	return container.StateExited, "Exited (" + code + ") 1 second ago"
}
