package eventstream

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/http"
)

// newBody returns the body of resp, read from conn after what br (which read
// the header) holds, straight into the caller's buffer: no buffer of its own.
func newBody(conn io.Reader, br *bufio.Reader, resp *http.Response) (io.Reader, error) {
	body := &streamBody{conn: conn, chunked: len(resp.TransferEncoding) > 0}
	if len(resp.TransferEncoding) > 1 || (body.chunked && resp.TransferEncoding[0] != "chunked") {
		return nil, fmt.Errorf("unsupported transfer encoding %q", resp.TransferEncoding)
	}
	if n := br.Buffered(); n > 0 {
		pre, _ := br.Peek(n)
		body.pre = bytes.Clone(pre)
	}
	if !body.chunked && resp.ContentLength >= 0 {
		return io.LimitReader(body, resp.ContentLength), nil
	}
	return body, nil
}

// streamBody reads an HTTP response body from its connection, removing the
// chunked encoding in place, in the caller's buffer.
type streamBody struct {
	conn    io.Reader
	pre     []byte // read with the header, to be read first
	chunked bool
	chunk   chunkState
}

func (b *streamBody) Read(p []byte) (int, error) {
	for {
		var n int
		var err error
		if len(b.pre) > 0 {
			n = copy(p, b.pre)
			b.pre = b.pre[n:]
		} else {
			n, err = b.conn.Read(p)
		}
		if !b.chunked {
			return n, err
		}
		k, cerr := b.chunk.decode(p[:n])
		if cerr != nil {
			return k, cerr
		}
		if b.chunk.done() {
			return k, io.EOF
		}
		if err == io.EOF {
			err = io.ErrUnexpectedEOF // the last chunk never came
		}
		if k > 0 || err != nil || n == 0 {
			return k, err
		}
		// Only framing was read: read on.
	}
}

// chunkState decodes the chunked transfer coding (RFC 9112, 7.1) in place.
type chunkState struct {
	state  int
	size   uint64 // of the chunk being read, then what is left of it
	digits int
	empty  bool // the trailer line read so far is empty
}

const (
	chunkSize    = iota // hex digits of a chunk's size
	chunkExt            // the rest of the size line, up to LF
	chunkData           // size bytes of data
	chunkDataEnd        // CRLF after the data
	chunkTrailer        // trailer lines, up to an empty one
	chunkDone
)

var errChunked = errors.New("malformed chunked encoding")

func (c *chunkState) done() bool { return c.state == chunkDone }

// decode removes the framing of b, moving the data it holds to its start,
// and returns how much data there is.
func (c *chunkState) decode(b []byte) (int, error) {
	w := 0
	for i := 0; i < len(b); {
		switch c.state {
		case chunkSize:
			x := b[i]
			var v byte
			switch {
			case x >= '0' && x <= '9':
				v = x - '0'
			case x >= 'a' && x <= 'f':
				v = x - 'a' + 10
			case x >= 'A' && x <= 'F':
				v = x - 'A' + 10
			case (x == '\r' || x == '\n' || x == ';' || x == ' ' || x == '\t') && c.digits > 0:
				c.state = chunkExt
				continue
			default:
				return w, errChunked
			}
			if c.digits == 15 {
				return w, errChunked // a chunk of 2^60 bytes: not an event stream
			}
			c.size = c.size<<4 | uint64(v)
			c.digits++
			i++
		case chunkExt:
			x := b[i]
			i++
			if x != '\n' {
				continue
			}
			c.digits = 0
			if c.size == 0 {
				c.state, c.empty = chunkTrailer, true
			} else {
				c.state = chunkData
			}
		case chunkData:
			k := int(min(c.size, uint64(len(b)-i)))
			w += copy(b[w:], b[i:i+k])
			i += k
			if c.size -= uint64(k); c.size == 0 {
				c.state = chunkDataEnd
			}
		case chunkDataEnd:
			x := b[i]
			i++
			switch x {
			case '\r':
			case '\n':
				c.state = chunkSize
			default:
				return w, errChunked
			}
		case chunkTrailer:
			x := b[i]
			i++
			switch x {
			case '\n':
				if c.empty {
					c.state = chunkDone
					return w, nil
				}
				c.empty = true
			case '\r':
			default:
				c.empty = false
			}
		case chunkDone:
			return w, nil
		}
	}
	return w, nil
}
