package informer

import (
	"context"
	"runtime"
	"sync"
	"time"
)

// listSlots bounds how many container lists are in flight at once in the
// process. A list is decoded whole (about 2.5 KiB per container in the
// client's types) and dropped once converted: a thousand engines connecting
// together would otherwise hold a thousand decoded lists at the same moment,
// which is most of the daemon's peak memory. Decoding is CPU-bound, so a few
// lists per CPU at a time take no longer in total.
var listSlots = newSlots(4 * runtime.GOMAXPROCS(0))

// listWait is how long a session waits for a list slot while no slot is
// given back: a list that hangs (up to callTimeout) must not hold other
// engines up, so when every slot is held that long, a session lists without
// one. While slots are given back, the lists are moving: it waits on.
const listWait = time.Second

// slots is a counting semaphore whose waiters give up only when it makes no
// progress.
type slots struct {
	ch chan struct{}
	mu sync.Mutex
	// freed is closed, and replaced, each time a slot is given back.
	freed chan struct{}
}

func newSlots(n int) *slots {
	return &slots{ch: make(chan struct{}, n), freed: make(chan struct{})}
}

// acquireList takes a list slot, or gives up when no slot was given back for
// listWait or when ctx ends; the returned func releases what was taken.
func acquireList(ctx context.Context) (release func()) {
	release, _ = listSlots.acquire(ctx, listWait)
	return release
}

// acquire takes a slot, and reports whether it did; see acquireList.
func (s *slots) acquire(ctx context.Context, wait time.Duration) (release func(), ok bool) {
	select {
	case s.ch <- struct{}{}:
		return s.release, true
	default:
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	for {
		s.mu.Lock()
		freed := s.freed
		s.mu.Unlock()
		select {
		case s.ch <- struct{}{}:
			return s.release, true
		case <-freed:
			t.Reset(wait) // progress: wait on
		case <-t.C:
			return func() {}, false
		case <-ctx.Done():
			return func() {}, false
		}
	}
}

// release gives a slot back.
func (s *slots) release() {
	<-s.ch
	s.mu.Lock()
	close(s.freed)
	s.freed = make(chan struct{})
	s.mu.Unlock()
}
