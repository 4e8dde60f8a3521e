package reconcile

import (
	"io"
	"sync"
)

// tailBuffer is an io.Writer and io.ReaderFrom that keeps only the last limit
// bytes written to it and counts the rest. It lets Run drain a handler's
// output at full speed (so the child never blocks on a full pipe) with memory
// bounded by limit.
//
// The bytes live in a ring of exactly limit bytes, taken from a ringPool on
// the first write and given back by release. os/exec copies a pipe with
// io.Copy, which uses ReadFrom: the pipe is read straight into the ring, so
// that copying a handler's output allocates nothing (io.Copy would otherwise
// allocate a 32 KiB buffer per stream per run).
//
// It is not safe for concurrent use; os/exec writes each stream from a single
// goroutine that has finished by the time Cmd.Wait returns.
type tailBuffer struct {
	pool    *ringPool
	ring    *[]byte // nil until the first write; len(*ring) == pool.size
	w       int     // where the next byte goes
	n       int     // bytes held; while n < size, nothing wrapped and w == n
	dropped int64   // bytes written but no longer held
}

// ringPool hands out rings of one size, the bound of a tailBuffer.
type ringPool struct {
	size int
	pool sync.Pool // of *[]byte
}

// newRingPool returns a pool of rings of size bytes; size must be positive.
func newRingPool(size int) *ringPool {
	if size <= 0 {
		panic("reconcile: ring size must be positive")
	}
	p := &ringPool{size: size}
	p.pool.New = func() any {
		b := make([]byte, size)
		return &b
	}
	return p
}

// newTailBuffer returns an empty tailBuffer holding at most the pool's size.
func newTailBuffer(pool *ringPool) tailBuffer { return tailBuffer{pool: pool} }

// storage returns the ring, taking one from the pool if needed.
func (b *tailBuffer) storage() []byte {
	if b.ring == nil {
		b.ring = b.pool.pool.Get().(*[]byte)
	}
	return *b.ring
}

// advance records k bytes just stored at w.
func (b *tailBuffer) advance(k int) {
	size := b.pool.size
	b.w += k
	if b.w == size {
		b.w = 0
	}
	if b.n+k > size {
		b.dropped += int64(b.n + k - size)
		b.n = size
		return
	}
	b.n += k
}

// Write keeps the tail of p and never fails, so that the copy from the child's
// pipe never stops.
func (b *tailBuffer) Write(p []byte) (int, error) {
	n := len(p)
	if n == 0 {
		return 0, nil
	}
	ring := b.storage()
	if extra := len(p) - len(ring); extra > 0 {
		// p alone fills the ring: only its tail can be kept.
		b.dropped += int64(extra)
		p = p[extra:]
	}
	for len(p) > 0 {
		k := copy(ring[b.w:], p)
		b.advance(k)
		p = p[k:]
	}
	return n, nil
}

// ReadFrom reads r until EOF straight into the ring, overwriting the oldest
// bytes once it is full. It returns the bytes read and any error but EOF.
func (b *tailBuffer) ReadFrom(r io.Reader) (int64, error) {
	ring := b.storage()
	var total int64
	for {
		k, err := r.Read(ring[b.w:])
		if k > 0 {
			b.advance(k)
			total += int64(k)
		}
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Bytes returns a copy of the bytes held, oldest first.
func (b *tailBuffer) Bytes() []byte {
	if b.n == 0 {
		return []byte{}
	}
	ring := *b.ring
	out := make([]byte, b.n)
	start := b.w - b.n
	if start >= 0 {
		copy(out, ring[start:b.w])
		return out
	}
	k := copy(out, ring[len(ring)+start:])
	copy(out[k:], ring[:b.w])
	return out
}

// Truncated reports whether any byte written was dropped.
func (b *tailBuffer) Truncated() bool { return b.dropped > 0 }

// release gives the ring back to the pool; b holds nothing afterwards. Call
// it once nothing writes to b any more.
func (b *tailBuffer) release() {
	if b.ring != nil {
		b.pool.pool.Put(b.ring)
	}
	*b = tailBuffer{pool: b.pool}
}
