package contract_test

import (
	"errors"
	"sync"

	"github.com/samalba/docker-eventsd/informer"
)

// errInterrupted: the informer did not watch the whole run without a gap (an
// engine_down, or transitions it synthesized after a reconnect), so its
// transcript is not the engine's.
var errInterrupted = errors.New("the informer lost the engine during the run")

// recorder keeps the events an informer hands on.
type recorder struct {
	mu     sync.Mutex
	events []*informer.Event
	// gap is the first event that shows the informer lost the stream.
	gap *informer.Event
}

func (r *recorder) Handle(ev *informer.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, ev)
	if r.gap == nil && (ev.Synthetic || ev.Action == informer.ActionEngineDown) {
		r.gap = ev
	}
}

func (r *recorder) snapshot() []*informer.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*informer.Event(nil), r.events...)
}

// interrupted returns an error wrapping errInterrupted once the informer lost
// the stream, or nil.
func (r *recorder) interrupted() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.gap == nil {
		return nil
	}
	return &gapError{ev: r.gap}
}

// gapError names the event that revealed the gap.
type gapError struct{ ev *informer.Event }

func (e *gapError) Error() string {
	what := e.ev.Action
	if e.ev.Synthetic {
		what = "synthesized " + what
	}
	return errInterrupted.Error() + " (" + what + ")"
}

func (e *gapError) Unwrap() error { return errInterrupted }
