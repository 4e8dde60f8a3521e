package informer

import (
	"testing"
	"time"
)

func TestReconnectBackoffNeverWaitsLongerThanMax(t *testing.T) {
	for _, tc := range []struct {
		name     string
		min, max time.Duration
	}{
		{"defaults", DefaultMinBackoff, DefaultMaxBackoff},
		{"max 1s", DefaultMinBackoff, time.Second},
		{"max equal to min", 500 * time.Millisecond, 500 * time.Millisecond},
		{"tiny", time.Millisecond, 3 * time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newReconnectBackoff(tc.min, tc.max)
			var longest time.Duration
			atCap := 0
			for i := 0; i < 20000; i++ {
				if i%100 == 0 {
					b.Reset()
				}
				w := b.Next()
				if w > tc.max {
					t.Fatalf("wait %d: %v, above the cap %v", i, w, tc.max)
				}
				if w <= 0 {
					t.Fatalf("wait %d: %v, want > 0", i, w)
				}
				longest = max(longest, w)
				if w == tc.max {
					atCap++
				}
			}
			// The jitter still spreads the waits at the cap: they are not
			// all clipped to it.
			if atCap > 20000/10 {
				t.Errorf("%d of 20000 waits exactly at the cap: the jitter is clipped away", atCap)
			}
			if longest < tc.max*9/10 {
				t.Errorf("longest wait %v, want close to the cap %v", longest, tc.max)
			}
		})
	}
}

func TestReconnectBackoffGrowsFromMin(t *testing.T) {
	b := newReconnectBackoff(500*time.Millisecond, time.Minute)
	first := b.Next()
	if first < 250*time.Millisecond || first > 750*time.Millisecond {
		t.Fatalf("first wait %v, want 500ms ± 50%%", first)
	}
	for i := 0; i < 4; i++ {
		b.Next()
	}
	// The sixth interval is 500ms * 2^5 = 16s, jittered to [8s, 24s].
	if w := b.Next(); w < 8*time.Second || w > 24*time.Second {
		t.Fatalf("sixth wait %v, want 16s ± 50%%", w)
	}
}
