package main

import (
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"

	"github.com/go-logr/logr"
)

// The daemon's memory grows with the cluster: a few KiB per engine and about
// 600 bytes per container. With Go's default (GOGC=100) the heap may grow to
// twice what is live before a collection, which at a thousand engines of a
// hundred containers is most of the resident memory. Unless the operator set
// GOGC or GOMEMLIMIT, the daemon keeps a soft memory limit of memoryHeadroom
// over what is live after each collection, and never below memoryFloor: a
// small daemon collects no more often than Go's default, a large one about
// twice as often, with a third less memory.
const (
	memoryFloor    = 128 << 20
	memoryHeadroom = 0.5 // of the live heap
)

// memoryMetrics are the runtime metrics the limit is computed from.
var memoryMetrics = []string{
	"/gc/heap/live:bytes",
	"/memory/classes/total:bytes",
	"/memory/classes/heap/objects:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/released:bytes",
	"/memory/classes/heap/unused:bytes",
}

// memoryLimit returns the soft limit for the runtime's memory, given the
// live heap and the runtime's accounting of its memory (total, then heap
// objects, free, released and unused heap): what is not heap (stacks, the
// runtime's own structures) as it is, the live heap plus its headroom, and at
// least the floor.
func memoryLimit(live, total, objects, free, released, unused uint64) int64 {
	notHeap := int64(total) - int64(objects+free+released+unused)
	return max(memoryFloor, notHeap+int64(live)+int64(memoryHeadroom*float64(live)))
}

// followLiveHeap sets the soft memory limit after every collection, unless
// GOGC or GOMEMLIMIT is set (GOMEMLIMIT=off: no limit at all, Go's default).
func followLiveHeap(log logr.Logger) {
	if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
		log.V(1).Info("Memory limit left to the environment", "GOGC", os.Getenv("GOGC"), "GOMEMLIMIT", os.Getenv("GOMEMLIMIT"))
		return
	}
	samples := make([]metrics.Sample, len(memoryMetrics))
	for i, name := range memoryMetrics {
		samples[i].Name = name
	}
	set := func() {
		metrics.Read(samples)
		v := func(i int) uint64 { return samples[i].Value.Uint64() }
		debug.SetMemoryLimit(memoryLimit(v(0), v(1), v(2), v(3), v(4), v(5)))
	}
	set()
	afterEachGC(set)
	log.V(1).Info("Memory limit follows the live heap", "headroom", memoryHeadroom, "floor", memoryFloor)
}

// gcSentinel is an object nothing refers to: its finalizer runs after each
// collection and sets itself again. It is not tiny (16 bytes and a pointer),
// so that the allocator does not pack it with other objects, which could
// keep it from being finalized.
type gcSentinel struct {
	_ *byte
	_ [8]byte
}

// afterEachGC calls f on the finalizer goroutine after every collection, for
// the life of the process.
func afterEachGC(f func()) {
	var rearm func(*gcSentinel)
	rearm = func(s *gcSentinel) {
		runtime.SetFinalizer(s, rearm)
		f()
	}
	runtime.SetFinalizer(&gcSentinel{}, rearm)
}
