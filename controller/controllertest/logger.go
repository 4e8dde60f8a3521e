package controllertest

import (
	"context"
	"fmt"
	"sync"

	"github.com/go-logr/logr"
)

// Entry is one logged line.
type Entry struct {
	// Level is the V-level of an info line; 0 for errors.
	Level int
	// Error is set for lines logged with Logger.Error.
	Error error
	// Msg is the message.
	Msg string
	// Values holds the key/values of the line, those of WithValues included.
	Values map[string]any
}

// String formats e for test failure messages.
func (e Entry) String() string {
	if e.Error != nil {
		return fmt.Sprintf("ERROR %q err=%v %v", e.Msg, e.Error, e.Values)
	}
	return fmt.Sprintf("V(%d) %q %v", e.Level, e.Msg, e.Values)
}

// LogRecorder records the lines of the loggers it makes. It is safe for
// concurrent use.
type LogRecorder struct {
	// Verbosity is the highest V-level recorded.
	Verbosity int

	mu      sync.Mutex
	entries []Entry
	// changed is closed and replaced whenever a line is recorded.
	changed chan struct{}
}

// Logger returns a logger that records into r.
func (r *LogRecorder) Logger() logr.Logger {
	return logr.New(&sink{rec: r})
}

// Entries returns the lines logged so far.
func (r *LogRecorder) Entries() []Entry {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]Entry(nil), r.entries...)
}

// Find returns the lines with message msg.
func (r *LogRecorder) Find(msg string) []Entry {
	var out []Entry
	for _, e := range r.Entries() {
		if e.Msg == msg {
			out = append(out, e)
		}
	}
	return out
}

// WaitFor waits until n lines with message msg were logged or ctx is done,
// and returns the lines with that message logged so far.
func (r *LogRecorder) WaitFor(ctx context.Context, msg string, n int) ([]Entry, error) {
	for {
		r.mu.Lock()
		var found []Entry
		for _, e := range r.entries {
			if e.Msg == msg {
				found = append(found, e)
			}
		}
		if len(found) >= n {
			r.mu.Unlock()
			return found, nil
		}
		if r.changed == nil {
			r.changed = make(chan struct{})
		}
		ch := r.changed
		r.mu.Unlock()
		select {
		case <-ch:
		case <-ctx.Done():
			return found, ctx.Err()
		}
	}
}

// sink is the logr.LogSink of LogRecorder.Logger.
type sink struct {
	rec    *LogRecorder
	values []any
}

// Init does nothing: no call site is recorded.
func (s *sink) Init(logr.RuntimeInfo) {}

// Enabled reports whether level is recorded.
func (s *sink) Enabled(level int) bool { return level <= s.rec.Verbosity }

// Info records an info line.
func (s *sink) Info(level int, msg string, kv ...any) { s.add(level, nil, msg, kv) }

// Error records an error line.
func (s *sink) Error(err error, msg string, kv ...any) { s.add(0, err, msg, kv) }

// WithValues returns a sink that adds kv to every line.
func (s *sink) WithValues(kv ...any) logr.LogSink {
	return &sink{rec: s.rec, values: append(append([]any(nil), s.values...), kv...)}
}

// WithName returns s: names are not recorded.
func (s *sink) WithName(string) logr.LogSink { return s }

// add records one line.
func (s *sink) add(level int, err error, msg string, kv []any) {
	e := Entry{Level: level, Error: err, Msg: msg, Values: map[string]any{}}
	for _, list := range [][]any{s.values, kv} {
		for i := 0; i+1 < len(list); i += 2 {
			e.Values[fmt.Sprint(list[i])] = list[i+1]
		}
	}
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	s.rec.entries = append(s.rec.entries, e)
	if s.rec.changed != nil {
		close(s.rec.changed)
		s.rec.changed = nil
	}
}
