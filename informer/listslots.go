package informer

import (
	"context"
	"runtime"
	"time"
)

// listSlots bounds how many container lists are in flight at once in the
// process. A list is decoded whole (about 2.5 KiB per container in the
// client's types) and dropped once converted: a thousand engines connecting
// together would otherwise hold a thousand decoded lists at the same moment,
// which is most of the daemon's peak memory. Decoding is CPU-bound, so a few
// lists per CPU at a time take no longer in total.
var listSlots = make(chan struct{}, 4*runtime.GOMAXPROCS(0))

// listWait is the longest a session waits for a list slot: a list that hangs
// (up to callTimeout) must not hold other engines up, so after this long a
// session lists without a slot.
const listWait = time.Second

// acquireList takes a list slot, or gives up after listWait or when ctx ends;
// the returned func releases what was taken.
func acquireList(ctx context.Context) (release func()) {
	select {
	case listSlots <- struct{}{}:
		return releaseList
	default:
	}
	t := time.NewTimer(listWait)
	defer t.Stop()
	select {
	case listSlots <- struct{}{}:
		return releaseList
	case <-t.C:
	case <-ctx.Done():
	}
	return func() {}
}

func releaseList() { <-listSlots }
