package eventstream

import (
	"bytes"
	"encoding/json"
	"fmt"
	"hash/maphash"
	"io"

	"github.com/moby/moby/api/types/events"
)

// A Decoder reads into its buffer, which starts at bufferMin and doubles up
// to bufferMax while reads fill it (dockerd writes one chunk per event, so at
// a high rate one read takes several events), or beyond while one event does
// not fit. An idle engine's stream holds 1 KiB.
const (
	bufferMin = 1 << 10
	bufferMax = 4 << 10
)

// maxEventSize bounds one event: a larger one ends the stream with an error
// rather than growing the buffer without end.
const maxEventSize = 16 << 20

// Decoder reads a stream of JSON values (dockerd writes one object and a
// newline per event) and decodes each into an events.Message.
type Decoder struct {
	r   io.Reader
	buf []byte // buf[off:] is read but not decoded yet
	off int
	// filled is set when the last read filled buf: the next one grows it.
	// A read that filled it with a chunked body returns a little less than
	// the room it had (the chunks' framing is removed, 7 bytes or so per
	// event): 7/8 of the room counts as filled.
	filled bool
	err    error // the read error once r failed
	p      eventParser
}

// NewDecoder returns a Decoder of the values r holds.
func NewDecoder(r io.Reader) *Decoder {
	return &Decoder{r: r, p: eventParser{seed: maphash.MakeSeed()}}
}

// Decode decodes the next value into m, which must be zero. It returns the
// read error (io.EOF at a clean end) once no value is left, and the error of
// encoding/json for a value that is not an event.
func (d *Decoder) Decode(m *events.Message) error {
	for {
		start, end, ok, err := frame(d.buf[d.off:])
		if err != nil {
			return err
		}
		if ok {
			v := d.buf[d.off+start : d.off+end]
			d.off += end
			if d.p.message(v, m) {
				return nil
			}
			var full struct {
				events.Message
				HealthStatus string // Podman's, beside the Actor
			}
			if err := json.Unmarshal(v, &full); err != nil {
				*m = events.Message{}
				return err
			}
			*m = full.Message
			setHealth(m, full.HealthStatus)
			return nil
		}
		if d.err != nil {
			if d.err == io.EOF && len(bytes.TrimLeft(d.buf[d.off:], " \t\r\n\x1e")) > 0 {
				return io.ErrUnexpectedEOF
			}
			return d.err
		}
		if err := d.fill(); err != nil {
			return err
		}
	}
}

// fill reads more into buf, first moving what is left to its start.
func (d *Decoder) fill() error {
	if d.off > 0 {
		n := copy(d.buf, d.buf[d.off:])
		d.buf, d.off = d.buf[:n], 0
	}
	free := cap(d.buf) - len(d.buf)
	if free == 0 || (d.filled && cap(d.buf) < bufferMax) {
		if cap(d.buf) >= maxEventSize {
			return fmt.Errorf("event larger than %d bytes", maxEventSize)
		}
		nb := make([]byte, len(d.buf), max(2*cap(d.buf), bufferMin))
		copy(nb, d.buf)
		d.buf = nb
		free = cap(d.buf) - len(d.buf)
	}
	n, err := d.r.Read(d.buf[len(d.buf):cap(d.buf)])
	d.buf = d.buf[:len(d.buf)+n]
	d.filled = n >= free-free/8
	if err != nil {
		d.err = err
	}
	return nil
}

// frame finds the first JSON object or array in b, after whitespace (and the
// record separators of application/json-seq), and returns its extent. ok is
// false when b does not hold a whole one yet. It is not validated: a value
// that is not valid JSON is left to encoding/json. Any other value is an
// error: it cannot be an event.
func frame(b []byte) (start, end int, ok bool, err error) {
	for start < len(b) && isSpace(b[start]) {
		start++
	}
	if start == len(b) {
		return 0, 0, false, nil
	}
	if c := b[start]; c != '{' && c != '[' {
		return 0, 0, false, fmt.Errorf("event stream: unexpected %q, want an object", c)
	}
	depth, inString := 0, false
	for i := start; i < len(b); i++ {
		c := b[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			inString = true
		case '{', '[':
			depth++
		case '}', ']':
			depth--
			if depth == 0 {
				return start, i + 1, true, nil
			}
		}
	}
	return 0, 0, false, nil
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\r' || c == '\n' || c == 0x1e }
