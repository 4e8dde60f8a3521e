package informer

import (
	"context"
	"sync"
	"time"

	"github.com/moby/moby/api/types/events"
	kbuffer "k8s.io/utils/buffer"
)

// buffer is the unbounded FIFO between the goroutine that reads an engine's event
// stream and the one that applies the events. push never blocks (beyond a short
// mutex), so the reader always takes the next event within Docker's 100 ms. The
// events wait in a growing ring (k8s.io/utils/buffer, as client-go's
// processorListener): nothing for a quiet engine, and as much as the largest
// burst of the session needed. (buffer.Ring, which gives the room back once
// emptied, took 2.5 to 3 times as long in BenchmarkBufferPushTake: it
// reallocates on every take after a burst.)
type buffer struct {
	mu     sync.Mutex
	items  *kbuffer.TypedRingGrowing[events.Message]
	err    error
	closed bool
	ready  chan struct{} // has a token when items or err wait to be taken
}

func newBuffer() *buffer {
	return &buffer{items: kbuffer.NewTypedRingGrowing[events.Message](kbuffer.RingGrowingOptions{}), ready: make(chan struct{}, 1)}
}

// push appends a message.
func (b *buffer) push(m events.Message) {
	b.mu.Lock()
	b.items.WriteOne(m)
	b.mu.Unlock()
	b.signal()
}

// close records the stream's end; take returns err once the items before it are taken.
func (b *buffer) close(err error) {
	b.mu.Lock()
	if !b.closed {
		b.closed, b.err = true, err
	}
	b.mu.Unlock()
	b.signal()
}

func (b *buffer) signal() {
	select {
	case b.ready <- struct{}{}:
	default:
	}
}

// drain returns what is buffered now, without waiting, reusing into's storage.
func (b *buffer) drain(into []events.Message) []events.Message {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.takeLocked(into)
}

// takeLocked moves every buffered message to into[:0] and returns it.
func (b *buffer) takeLocked(into []events.Message) []events.Message {
	into = into[:0]
	for {
		m, ok := b.items.ReadOne()
		if !ok {
			return into
		}
		into = append(into, m)
	}
}

// take waits until messages are buffered and returns them all (reusing into's storage).
// It returns the stream's error once the stream ended and everything was taken, or
// ctx's error.
func (b *buffer) take(ctx context.Context, into []events.Message) ([]events.Message, error) {
	into, _, err := b.takeOr(ctx, into, nil)
	return into, err
}

// takeOr is take, except that it also returns, with due set and maybe no
// messages, when wake fires first (a nil wake never does).
func (b *buffer) takeOr(ctx context.Context, into []events.Message, wake <-chan time.Time) (_ []events.Message, due bool, _ error) {
	for {
		b.mu.Lock()
		if b.items.Len() > 0 {
			into = b.takeLocked(into)
			b.mu.Unlock()
			return into, false, nil
		}
		closed, err := b.closed, b.err
		b.mu.Unlock()
		if closed {
			return into[:0], false, err
		}
		select {
		case <-b.ready:
		case <-wake:
			return into[:0], true, nil
		case <-ctx.Done():
			return into[:0], false, context.Cause(ctx)
		}
	}
}
