package main

import (
	"runtime"
	"testing"
	"time"
)

func TestMemoryLimit(t *testing.T) {
	t.Parallel()
	const mib = 1 << 20
	tests := []struct {
		name                                         string
		live, total, objects, free, released, unused uint64
		want                                         int64
	}{
		{name: "small daemon: the floor", live: 20 * mib, total: 60 * mib, objects: 30 * mib, free: 10 * mib, released: 5 * mib, unused: 1 * mib, want: memoryFloor},
		{name: "large daemon: not heap + live + half", live: 100 * mib, total: 260 * mib, objects: 150 * mib, free: 40 * mib, released: 20 * mib, unused: 10 * mib, want: 40*mib + 150*mib},
		{name: "no live heap yet", total: 10 * mib, objects: 1 * mib, want: memoryFloor},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			if got := memoryLimit(tt.live, tt.total, tt.objects, tt.free, tt.released, tt.unused); got != tt.want {
				t.Errorf("memoryLimit = %d MiB, want %d MiB", got/mib, tt.want/mib)
			}
		})
	}
}

func TestAfterEachGC(t *testing.T) {
	t.Parallel()
	ran := make(chan struct{}, 100)
	afterEachGC(func() {
		select {
		case ran <- struct{}{}:
		default:
		}
	})
	// Each call needs a collection after the previous call re-armed it:
	// collect until it ran, three times.
	deadline := time.Now().Add(10 * time.Second)
	for calls := 0; calls < 3; {
		if time.Now().After(deadline) {
			t.Fatalf("called %d times in 10 s of collections, want 3", calls)
		}
		runtime.GC()
		select {
		case <-ran:
			calls++
		case <-time.After(10 * time.Millisecond):
		}
	}
}
