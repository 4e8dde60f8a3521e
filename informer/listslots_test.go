package informer

import (
	"context"
	"testing"
	"time"
)

func TestSlotsAcquire(t *testing.T) {
	t.Parallel()
	const wait = 50 * time.Millisecond
	tests := []struct {
		name string
		// run holds the only slot and does what the case needs while a
		// second acquire waits; it returns when that acquire must have
		// given up (true) or got a slot (false).
		run        func(s *slots, cancel context.CancelFunc, rel func())
		wantGaveUp bool
	}{
		{
			name:       "all slots held, none given back: gives up",
			run:        func(*slots, context.CancelFunc, func()) {},
			wantGaveUp: true,
		},
		{
			name: "slot given back: takes it",
			run: func(_ *slots, _ context.CancelFunc, rel func()) {
				time.Sleep(wait / 2)
				rel()
			},
		},
		{
			name: "slots moving for longer than the wait: waits on",
			run: func(s *slots, _ context.CancelFunc, rel func()) {
				// Another lister takes the freed slot each time, for 4
				// times the wait, then the waiter's turn comes.
				for range 8 {
					time.Sleep(wait / 2)
					rel()
					rel, _ = s.acquire(context.Background(), time.Hour)
				}
				rel()
			},
		},
		{
			name:       "context ends: gives up",
			run:        func(_ *slots, cancel context.CancelFunc, _ func()) { cancel() },
			wantGaveUp: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newSlots(1)
			rel, ok := s.acquire(context.Background(), wait)
			if !ok {
				t.Fatal("first acquire did not take the free slot")
			}
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			got := make(chan bool, 1)
			go func() {
				r, took := s.acquire(ctx, wait)
				r()
				got <- !took
			}()
			tt.run(s, cancel, rel)
			if gaveUp := <-got; gaveUp != tt.wantGaveUp {
				t.Errorf("gave up: %v, want %v", gaveUp, tt.wantGaveUp)
			}
		})
	}
}
