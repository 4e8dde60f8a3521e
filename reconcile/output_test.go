package reconcile

import (
	"bytes"
	"testing"
)

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
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			b := newTailBuffer(tt.limit)
			total := 0
			for _, w := range tt.writes {
				n, err := b.Write([]byte(w))
				if n != len(w) || err != nil {
					t.Fatalf("Write(%q) = %d, %v; want %d, nil", w, n, err, len(w))
				}
				total += len(w)
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

// TestTailBufferBounded checks that a flood keeps the tail without the buffer
// ever growing past its limit.
func TestTailBufferBounded(t *testing.T) {
	t.Parallel()
	const limit = 1000
	b := newTailBuffer(limit)
	var all bytes.Buffer
	chunk := make([]byte, 0, 777)
	for i := range 5000 {
		chunk = chunk[:0]
		for j := range i%777 + 1 {
			chunk = append(chunk, byte('a'+(i+j)%26))
		}
		all.Write(chunk)
		b.Write(chunk)
		if cap(b.buf) > limit {
			t.Fatalf("after write %d: cap(buf) = %d > limit %d", i, cap(b.buf), limit)
		}
	}
	want := all.Bytes()[all.Len()-limit:]
	if got := b.Bytes(); !bytes.Equal(got, want) {
		t.Errorf("Bytes() is not the last %d bytes written", limit)
	}
	if !b.Truncated() {
		t.Error("Truncated() = false after a flood")
	}
}
