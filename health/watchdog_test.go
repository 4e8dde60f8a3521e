package health

import (
	"slices"
	"testing"
	"time"
)

// fakeNow is a clock the test moves.
type fakeNow struct{ t time.Time }

func (f *fakeNow) now() time.Time { return f.t }

func newTestWatchdog() (*Watchdog, *fakeNow) {
	clk := &fakeNow{t: time.Unix(1000, 0)}
	w := NewWatchdog(time.Second)
	w.now = clk.now
	return w, clk
}

func TestWatchdogNamesOnlyTheLoopStuckInOneWorkPastItsLimit(t *testing.T) {
	tests := []struct {
		name string
		// run drives loop "a" while the clock moves by 10s steps.
		run  func(l *Loop, step func())
		want []string
	}{
		{"idle loop is never stuck", func(l *Loop, step func()) { step(); step(); step() }, nil},
		{"short works are not stuck", func(l *Loop, step func()) {
			for range 5 {
				l.Begin()
				step()
				l.End()
			}
		}, nil},
		{"one work past the limit is stuck", func(l *Loop, step func()) {
			l.Begin()
			step()
			step()
			step()
		}, []string{"a"}},
		{"a longer limit for one work keeps it healthy", func(l *Loop, step func()) {
			l.BeginFor(time.Minute)
			step()
			step()
			step()
		}, nil},
		{"the work that ended after being stuck clears it", func(l *Loop, step func()) {
			l.Begin()
			step()
			step()
			step()
			l.End()
			step()
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, clk := newTestWatchdog()
			a := w.Loop("a", 15*time.Second)
			w.Loop("b", 15*time.Second) // idle all along
			tt.run(a, func() { clk.t = clk.t.Add(10 * time.Second); w.look() })
			if got := w.Stuck(); !slices.Equal(got, tt.want) {
				t.Fatalf("Stuck() = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestWatchdogForgetsARemovedLoop(t *testing.T) {
	w, clk := newTestWatchdog()
	a := w.Loop("a", time.Second)
	a.Begin()
	w.look()
	clk.t = clk.t.Add(time.Minute)
	if got := w.Stuck(); len(got) != 1 {
		t.Fatalf("Stuck() = %v, want [a]", got)
	}
	w.Remove(a)
	if got := w.Stuck(); len(got) != 0 {
		t.Fatalf("after Remove, Stuck() = %v, want none", got)
	}
}

func TestNilWatchdogGivesLoopsThatWork(t *testing.T) {
	var w *Watchdog
	l := w.Loop("x", 0)
	l.Begin()
	l.End()
	w.Remove(l)
}
