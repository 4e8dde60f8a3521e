package reconcile

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// chunkReader returns its chunks one Read at a time (cut to the caller's
// buffer), then err (io.EOF when nil).
type chunkReader struct {
	chunks []string
	err    error
}

func (r *chunkReader) Read(p []byte) (int, error) {
	for len(r.chunks) > 0 && r.chunks[0] == "" {
		r.chunks = r.chunks[1:]
	}
	if len(r.chunks) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		return 0, io.EOF
	}
	n := copy(p, r.chunks[0])
	r.chunks[0] = r.chunks[0][n:]
	return n, nil
}

func TestTailBuffer(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name      string
		limit     int
		writes    []string
		want      string
		truncated bool
	}{
		{name: "nothing", limit: 4, want: ""},
		{name: "fits", limit: 4, writes: []string{"ab", "c"}, want: "abc"},
		{name: "exactly full", limit: 4, writes: []string{"ab", "cd"}, want: "abcd"},
		{name: "one write too big", limit: 4, writes: []string{"abcdef"}, want: "cdef", truncated: true},
		{name: "wraps", limit: 4, writes: []string{"abc", "de"}, want: "bcde", truncated: true},
		{name: "wraps twice", limit: 4, writes: []string{"abc", "de", "fgh", "i"}, want: "fghi", truncated: true},
		{name: "byte by byte", limit: 3, writes: []string{"a", "b", "c", "d", "e"}, want: "cde", truncated: true},
		{name: "big write after wrap", limit: 3, writes: []string{"ab", "cd", "efgh"}, want: "fgh", truncated: true},
		{name: "empty writes", limit: 3, writes: []string{"", "ab", ""}, want: "ab"},
		{name: "limit one", limit: 1, writes: []string{"ab", "c"}, want: "c", truncated: true},
		{name: "exactly full then one", limit: 3, writes: []string{"abc", "d"}, want: "bcd", truncated: true},
	}
	for _, tt := range tests {
		for _, via := range []string{"Write", "ReadFrom"} {
			t.Run(tt.name+"/"+via, func(t *testing.T) {
				t.Parallel()
				b := newTailBuffer(newRingPool(tt.limit))
				total := 0
				for _, w := range tt.writes {
					total += len(w)
				}
				switch via {
				case "Write":
					for _, w := range tt.writes {
						n, err := b.Write([]byte(w))
						if n != len(w) || err != nil {
							t.Fatalf("Write(%q) = %d, %v; want %d, nil", w, n, err, len(w))
						}
					}
				case "ReadFrom":
					n, err := b.ReadFrom(&chunkReader{chunks: append([]string(nil), tt.writes...)})
					if n != int64(total) || err != nil {
						t.Fatalf("ReadFrom = %d, %v; want %d, nil", n, err, total)
					}
				}
				if got := string(b.Bytes()); got != tt.want {
					t.Errorf("Bytes() = %q, want %q", got, tt.want)
				}
				if got := b.Truncated(); got != tt.truncated {
					t.Errorf("Truncated() = %v, want %v", got, tt.truncated)
				}
				if held := int64(len(b.Bytes())); held+b.dropped != int64(total) {
					t.Errorf("held %d + dropped %d != written %d", held, b.dropped, total)
				}
			})
		}
	}
}

// TestTailBufferBounded checks that a flood, written and read, keeps the tail
// in a ring of exactly the limit.
func TestTailBufferBounded(t *testing.T) {
	t.Parallel()
	const limit = 1000
	var all bytes.Buffer
	var chunks []string
	for i := range 5000 {
		var chunk []byte
		for j := range i%777 + 1 {
			chunk = append(chunk, byte('a'+(i+j)%26))
		}
		all.Write(chunk)
		chunks = append(chunks, string(chunk))
	}
	want := all.Bytes()[all.Len()-limit:]

	w := newTailBuffer(newRingPool(limit))
	for _, c := range chunks {
		_, _ = w.Write([]byte(c))
	}
	r := newTailBuffer(newRingPool(limit))
	if _, err := r.ReadFrom(&chunkReader{chunks: chunks}); err != nil {
		t.Fatal(err)
	}
	for name, b := range map[string]*tailBuffer{"Write": &w, "ReadFrom": &r} {
		if n := len(*b.ring); n != limit {
			t.Errorf("%s: ring of %d bytes, want %d", name, n, limit)
		}
		if got := b.Bytes(); !bytes.Equal(got, want) {
			t.Errorf("%s: Bytes() is not the last %d bytes written", name, limit)
		}
		if !b.Truncated() {
			t.Errorf("%s: Truncated() = false after a flood", name)
		}
	}
}

// TestTailBufferRingReuse checks that a ring given back and taken again
// shows only what the new buffer got, not the bytes of an earlier run.
func TestTailBufferRingReuse(t *testing.T) {
	t.Parallel()
	pool := newRingPool(8)
	a := newTailBuffer(pool)
	_, _ = a.Write([]byte("0123456789"))
	a.release()
	if a.ring != nil || a.n != 0 || a.Truncated() {
		t.Fatalf("after release: %+v, want empty", a)
	}
	for range 3 { // sync.Pool may or may not hand the same ring back
		b := newTailBuffer(pool)
		_, _ = b.Write([]byte("xy"))
		if got := string(b.Bytes()); got != "xy" || b.Truncated() {
			t.Errorf("Bytes() = %q (truncated %v), want \"xy\"", got, b.Truncated())
		}
		b.release()
	}
}

func TestTailBufferReadFromError(t *testing.T) {
	t.Parallel()
	boom := errors.New("boom")
	b := newTailBuffer(newRingPool(4))
	n, err := b.ReadFrom(&chunkReader{chunks: []string{"abcdef"}, err: boom})
	if n != 6 || !errors.Is(err, boom) {
		t.Fatalf("ReadFrom = %d, %v; want 6, boom", n, err)
	}
	if got := string(b.Bytes()); got != "cdef" {
		t.Errorf("Bytes() = %q, want %q", got, "cdef")
	}
}

// plainReader hides the WriteTo of a strings.Reader, as os/exec's pipe is
// seen by io.Copy (os.File's WriteTo falls back to the writer's ReadFrom).
type plainReader struct{ r *strings.Reader }

func (p plainReader) Read(b []byte) (int, error) { return p.r.Read(b) }

// TestTailBufferReadFromAllocatesNothing checks that draining a pipe, what
// os/exec does for each output stream of each run, allocates nothing once a
// ring is in the pool (io.Copy allocates 32 KiB per call without ReadFrom).
func TestTailBufferReadFromAllocatesNothing(t *testing.T) {
	pool := newRingPool(DefaultMaxOutput)
	src := strings.NewReader(strings.Repeat("x", 3*DefaultMaxOutput))
	b := newTailBuffer(pool)
	allocs := testing.AllocsPerRun(100, func() {
		_, _ = src.Seek(0, io.SeekStart)
		if _, err := io.Copy(&b, plainReader{src}); err != nil {
			t.Fatal(err)
		}
		b.release()
	})
	if allocs > 0 {
		t.Errorf("io.Copy into a tailBuffer: %.1f allocations per run, want 0", allocs)
	}
}
