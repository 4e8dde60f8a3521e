package reconcile

// tailBuffer is an io.Writer that keeps only the last limit bytes written to
// it and counts the rest. It lets Run drain a handler's output at full speed
// (so the child never blocks on a full pipe) with memory bounded by limit.
//
// It is not safe for concurrent use; os/exec writes each stream from a single
// goroutine that has finished by the time Cmd.Wait returns.
type tailBuffer struct {
	limit   int
	buf     []byte // len(buf) < limit: bytes in order; len(buf) == limit: a ring starting at start
	start   int    // index of the oldest byte once the ring is full
	dropped int64  // bytes written but no longer held
}

// newTailBuffer returns a tailBuffer holding at most limit bytes; limit must be
// positive.
func newTailBuffer(limit int) *tailBuffer {
	if limit <= 0 {
		panic("reconcile: tailBuffer limit must be positive")
	}
	return &tailBuffer{limit: limit}
}

// Write keeps the tail of p and never fails, so that the copy from the child's
// pipe never stops.
func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if len(p) >= b.limit {
		// p alone fills the buffer: everything held so far goes.
		b.dropped += int64(len(b.buf)) + int64(len(p)-b.limit)
		p = p[len(p)-b.limit:]
		b.buf, b.start = b.buf[:0], 0
	}
	if room := b.limit - len(b.buf); room > 0 {
		k := min(room, len(p))
		b.grow(k)
		b.buf = append(b.buf, p[:k]...)
		p = p[k:]
	}
	for len(p) > 0 { // the ring is full: overwrite the oldest bytes
		k := copy(b.buf[b.start:], p)
		b.dropped += int64(k)
		b.start = (b.start + k) % b.limit
		p = p[k:]
	}
	return n, nil
}

// grow makes room for k more bytes without ever allocating beyond limit, which
// append's own growth policy could do.
func (b *tailBuffer) grow(k int) {
	need := len(b.buf) + k
	if need <= cap(b.buf) {
		return
	}
	c := min(b.limit, max(need, 2*cap(b.buf), 512))
	nb := make([]byte, len(b.buf), c)
	copy(nb, b.buf)
	b.buf = nb
}

// Bytes returns a copy of the bytes held, oldest first.
func (b *tailBuffer) Bytes() []byte {
	out := make([]byte, 0, len(b.buf))
	out = append(out, b.buf[b.start:]...)
	return append(out, b.buf[:b.start]...)
}

// Truncated reports whether any byte written was dropped.
func (b *tailBuffer) Truncated() bool { return b.dropped > 0 }
