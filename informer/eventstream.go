package informer

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net"
	"net/http"
	"net/url"
	"path"
	"time"
	"unicode/utf8"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// eventStream serves Events on a connection of its own, without the Docker
// client's HTTP transport: the stream is the hot path of the daemon (every
// event of every engine) and its longest-lived connection (one per engine).
//
//   - Decoding: the client decodes each event with encoding/json (20-26
//     allocations, two thirds of the daemon's CPU at 100,000 events/s once
//     uncaught events are not logged); the eventDecoder here parses the shape
//     dockerd sends (3-5 allocations, a third of the time), and hands
//     anything else to encoding/json, so the result is the same.
//   - Memory: the client's transport keeps two goroutines, a 4 KiB read and
//     a 4 KiB write buffer and tracing wrappers per connection, and its
//     decoder a buffer of its own; a stream here is one goroutine and one
//     buffer (1 KiB while the engine is quiet), read into straight from the
//     connection.
//
// Events behaves as the client's: it returns once the engine answered the
// request (the engine has subscribed), messages come on an unbuffered
// channel, and the first error, io.EOF at the end of the stream, ends it.
type eventStream struct {
	cli *client.Client // for its negotiated API version
	// network and addr are where to dial ("tcp", "host:port"; "unix", path).
	network, addr string
	// host is the Host header; basePath prefixes the API path (tcp://h/p).
	host, basePath string
	tls            *tls.Config // nil: plain
}

// A stream reads into its decoder's buffer, which starts at streamBufferMin
// and doubles up to streamBufferMax while reads fill it (dockerd writes one
// chunk per event, so at a high rate one read takes several events), or
// beyond while one event does not fit. An idle engine's stream holds 1 KiB.
const (
	streamBufferMin = 1 << 10
	streamBufferMax = 4 << 10
)

// headerBuffer is the read buffer of a response's header; what it read past
// the header is handed on.
const headerBuffer = 512

// dialTimeout bounds a connection attempt, as the Docker client's does.
const dialTimeout = 10 * time.Second

// maxEventSize bounds one event: a larger one ends the stream with an error
// rather than growing the buffer without end.
const maxEventSize = 16 << 20

// newEventStream returns a stream for the engine at host (a Docker host URL
// such as tcp://1.2.3.4:2375 or unix:///var/run/docker.sock), or nil when the
// client's own Events must be used: another protocol, or an HTTP proxy
// for the engine (proxy, usually http.ProxyFromEnvironment, says which),
// which the client honours and a direct connection would not.
func newEventStream(cli *client.Client, host string, tlsConfig *tls.Config, proxy func(*http.Request) (*url.URL, error)) *eventStream {
	u, err := client.ParseHostURL(host)
	if err != nil {
		return nil
	}
	s := &eventStream{cli: cli, network: u.Scheme, addr: u.Host, host: u.Host, basePath: u.Path, tls: tlsConfig}
	switch u.Scheme {
	case "unix":
		s.host = client.DummyHost
		if tlsConfig != nil {
			return nil
		}
	case "tcp":
		scheme := "http"
		if tlsConfig != nil {
			scheme = "https"
		}
		probe := &http.Request{URL: &url.URL{Scheme: scheme, Host: u.Host, Path: "/"}}
		if p, err := proxy(probe); err != nil || p != nil {
			return nil
		}
		if tlsConfig != nil && tlsConfig.ServerName == "" {
			c := tlsConfig.Clone()
			if h, _, err := net.SplitHostPort(u.Host); err == nil {
				c.ServerName = h
			}
			s.tls = c
		}
	default:
		return nil
	}
	return s
}

// plainTimestamp reports whether s is empty or seconds[.nanoseconds], the form
// the informer gives and the engine takes as it is (the client would convert
// other forms).
func plainTimestamp(s string) bool {
	sec, frac, dot := bytes.Cut([]byte(s), []byte("."))
	if !digits(sec) && s != "" {
		return false
	}
	return !dot || (digits(frac) && len(frac) <= 9)
}

func digits(b []byte) bool {
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// eventsQuery returns the query of an events request.
func eventsQuery(opts client.EventsListOptions) (url.Values, error) {
	q := url.Values{}
	if opts.Since != "" {
		q.Set("since", opts.Since)
	}
	if opts.Until != "" {
		q.Set("until", opts.Until)
	}
	if len(opts.Filters) > 0 {
		b, err := json.Marshal(opts.Filters)
		if err != nil {
			return nil, fmt.Errorf("events filters: %w", err)
		}
		q.Set("filters", string(b))
	}
	return q, nil
}

// events opens the stream and decodes it in a goroutine of its own.
func (s *eventStream) events(ctx context.Context, opts client.EventsListOptions) client.EventsResult {
	messages := make(chan events.Message)
	errs := make(chan error, 1)
	res := client.EventsResult{Messages: messages, Err: errs}
	body, closeConn, err := s.open(ctx, opts)
	if err != nil {
		errs <- err
		close(errs)
		return res
	}
	go func() {
		defer close(errs)
		defer closeConn()
		dec := newEventDecoder(body)
		for {
			var m events.Message
			if err := dec.decode(&m); err != nil {
				if ctx.Err() != nil {
					err = ctx.Err()
				}
				errs <- err
				return
			}
			select {
			case messages <- m:
			case <-ctx.Done():
				errs <- ctx.Err()
				return
			}
		}
	}()
	return res
}

// open connects, sends the request and reads the answer's header. The
// connection is closed when ctx ends, which ends a read or a dial in flight.
func (s *eventStream) open(ctx context.Context, opts client.EventsListOptions) (io.Reader, func(), error) {
	q, err := eventsQuery(opts)
	if err != nil {
		return nil, nil, err
	}
	p := "/events"
	if v := s.cli.ClientVersion(); v != "" {
		p = "/v" + v + p
	}
	reqURL := &url.URL{Scheme: "http", Host: s.host, Path: path.Join("/", s.basePath, p), RawQuery: q.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, reqURL.String(), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("events request: %w", err)
	}
	req.Host = s.host
	req.Header.Set("User-Agent", userAgent)
	req.Header.Set("Accept", "application/json")

	d := net.Dialer{Timeout: dialTimeout}
	raw, err := d.DialContext(ctx, s.network, s.addr)
	if err != nil {
		return nil, nil, fmt.Errorf("events: %w", err)
	}
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	closeConn := func() {
		stop()
		raw.Close()
	}
	conn := raw
	if s.tls != nil {
		tc := tls.Client(conn, s.tls)
		if err := tc.HandshakeContext(ctx); err != nil {
			closeConn()
			return nil, nil, fmt.Errorf("events: %w", err)
		}
		conn = tc
	}
	fail := func(err error) (io.Reader, func(), error) {
		closeConn()
		if ctx.Err() != nil {
			err = ctx.Err()
		}
		return nil, nil, fmt.Errorf("events: %w", err)
	}
	if err := req.Write(conn); err != nil {
		return fail(err)
	}
	br := bufio.NewReaderSize(conn, headerBuffer)
	resp, err := http.ReadResponse(br, req)
	if err != nil {
		return fail(err)
	}
	if resp.StatusCode < http.StatusOK || resp.StatusCode >= http.StatusBadRequest {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		var e struct{ Message string }
		if json.Unmarshal(msg, &e) == nil && e.Message != "" {
			msg = []byte(e.Message)
		}
		return fail(fmt.Errorf("%s: %s", resp.Status, bytes.TrimSpace(msg)))
	}
	// The body is read from the connection straight into the decoder's
	// buffer, de-chunked there: no buffer of its own.
	body := &streamBody{conn: conn, chunked: len(resp.TransferEncoding) > 0}
	if len(resp.TransferEncoding) > 1 || (body.chunked && resp.TransferEncoding[0] != "chunked") {
		return fail(fmt.Errorf("unsupported transfer encoding %q", resp.TransferEncoding))
	}
	if n := br.Buffered(); n > 0 {
		pre, _ := br.Peek(n)
		body.pre = bytes.Clone(pre)
	}
	if !body.chunked && resp.ContentLength >= 0 {
		return io.LimitReader(body, resp.ContentLength), closeConn, nil
	}
	return body, closeConn, nil
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

// eventDecoder reads a stream of JSON values (dockerd writes one object and a
// newline per event) and decodes each into an events.Message.
type eventDecoder struct {
	r   io.Reader
	buf []byte // buf[off:] is read but not decoded yet
	off int
	// filled is set when the last read filled buf: the next one grows it.
	filled bool
	err    error // the read error once r failed
	p      eventParser
}

func newEventDecoder(r io.Reader) *eventDecoder {
	return &eventDecoder{r: r, p: eventParser{seed: maphash.MakeSeed()}}
}

// decode decodes the next value into m, which must be zero. It returns the
// read error (io.EOF at a clean end) once no value is left, and the error of
// encoding/json for a value that is not an event.
func (d *eventDecoder) decode(m *events.Message) error {
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
			*m = events.Message{}
			if err := json.Unmarshal(v, m); err != nil {
				return err
			}
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
func (d *eventDecoder) fill() error {
	if d.off > 0 {
		n := copy(d.buf, d.buf[d.off:])
		d.buf, d.off = d.buf[:n], 0
	}
	free := cap(d.buf) - len(d.buf)
	if free == 0 || (d.filled && cap(d.buf) < streamBufferMax) {
		if cap(d.buf) >= maxEventSize {
			return fmt.Errorf("event larger than %d bytes", maxEventSize)
		}
		nb := make([]byte, len(d.buf), max(2*cap(d.buf), streamBufferMin))
		copy(nb, d.buf)
		d.buf = nb
		free = cap(d.buf) - len(d.buf)
	}
	n, err := d.r.Read(d.buf[len(d.buf):cap(d.buf)])
	d.buf = d.buf[:len(d.buf)+n]
	d.filled = n == free
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

// eventParser parses the JSON of an event as dockerd writes it: an object of
// string and integer fields, the Actor object and its Attributes of strings.
// It accepts only what it decodes exactly as encoding/json would (keys spelled
// as the struct tags, no duplicate field, no null, ints without fraction or
// exponent, strings of valid UTF-8 without surrogate escapes); on anything
// else message returns false and the caller uses encoding/json.
//
// Short strings (attribute keys and values, names, actions...) are interned:
// a string seen recently is not allocated again. The table is a direct-mapped
// cache of internSlots strings (a newer string evicts an older one with the
// same hash), allocated on the first event: cheaper than a map, and nothing
// for an idle engine.
type eventParser struct {
	b       []byte
	i       int
	seed    maphash.Seed
	strs    *[internSlots]string
	scratch []byte // unescaped string being built
}

const (
	internSlots  = 256 // a power of two
	internMaxLen = 32  // longer strings (container IDs) are not interned
)

// Fields of events.Message and Actor, to refuse duplicates.
const (
	fType = 1 << iota
	fAction
	fActor
	fScope
	fTime
	fTimeNano
	fStatus
	fID
	fFrom
	fActorID
	fAttributes
)

// message parses the object b into m (zero) and reports whether it could.
func (p *eventParser) message(b []byte, m *events.Message) bool {
	p.b, p.i = b, 0
	seen := 0
	ok := p.object(func(key []byte) bool {
		var f int
		switch string(key) {
		case "Type":
			f = fType
		case "Action":
			f = fAction
		case "Actor":
			f = fActor
		case "scope":
			f = fScope
		case "time":
			f = fTime
		case "timeNano":
			f = fTimeNano
		case "status":
			f = fStatus
		case "id":
			f = fID
		case "from":
			f = fFrom
		default:
			return false // unknown, or another spelling: encoding/json decides
		}
		if seen&f != 0 {
			return false
		}
		seen |= f
		var s string
		var ok bool
		switch f {
		case fType:
			s, ok = p.str()
			m.Type = events.Type(s)
		case fAction:
			s, ok = p.str()
			m.Action = events.Action(s)
		case fScope:
			m.Scope, ok = p.str()
		case fTime:
			m.Time, ok = p.int()
		case fTimeNano:
			m.TimeNano, ok = p.int()
		case fActor:
			ok = p.actor(&m.Actor)
		default: // status, id, from: strings the message has no field for
			_, ok = p.strBytes()
		}
		return ok
	})
	p.space()
	return ok && p.i == len(p.b)
}

// actor parses the Actor object.
func (p *eventParser) actor(a *events.Actor) bool {
	seen := 0
	return p.object(func(key []byte) bool {
		switch string(key) {
		case "ID":
			if seen&fActorID != 0 {
				return false
			}
			seen |= fActorID
			var ok bool
			a.ID, ok = p.str()
			return ok
		case "Attributes":
			if seen&fAttributes != 0 {
				return false
			}
			seen |= fAttributes
			attrs := make(map[string]string, 8)
			a.Attributes = attrs
			return p.object(func(key []byte) bool {
				k := p.intern(key)
				v, ok := p.str()
				attrs[k] = v
				return ok
			})
		}
		return false
	})
}

// object parses an object, calling member with each key (valid only during
// the call) and the parser on the member's value.
func (p *eventParser) object(member func(key []byte) bool) bool {
	p.space()
	if !p.consume('{') {
		return false
	}
	p.space()
	if p.consume('}') {
		return true
	}
	for {
		p.space()
		key, ok := p.strBytes()
		if !ok {
			return false
		}
		// key may point into scratch, which the value may overwrite: the
		// callers copy it (intern) before parsing the value, or compare it.
		p.space()
		if !p.consume(':') {
			return false
		}
		p.space()
		if !member(key) {
			return false
		}
		p.space()
		if p.consume('}') {
			return true
		}
		if !p.consume(',') {
			return false
		}
	}
}

func (p *eventParser) space() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\r', '\n':
			p.i++
		default:
			return
		}
	}
}

func (p *eventParser) consume(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

// int parses an integer of an int64.
func (p *eventParser) int() (int64, bool) {
	neg := p.consume('-')
	start := p.i
	var n uint64
	for p.i < len(p.b) && p.b[p.i] >= '0' && p.b[p.i] <= '9' {
		n = n*10 + uint64(p.b[p.i]-'0')
		p.i++
	}
	// 19 digits cannot overflow a uint64; leading zeros are not JSON.
	nd := p.i - start
	if nd == 0 || nd > 19 || (nd > 1 && p.b[start] == '0') {
		return 0, false
	}
	if p.i < len(p.b) {
		switch p.b[p.i] {
		case '.', 'e', 'E':
			return 0, false
		}
	}
	if neg {
		if n > 1<<63 {
			return 0, false
		}
		return -int64(n), true
	}
	if n > 1<<63-1 {
		return 0, false
	}
	return int64(n), true
}

// str parses a string and returns it, interned when short.
func (p *eventParser) str() (string, bool) {
	b, ok := p.strBytes()
	if !ok {
		return "", false
	}
	return p.intern(b), true
}

// intern returns b as a string: the one of the table when it holds it.
func (p *eventParser) intern(b []byte) string {
	if len(b) > internMaxLen || len(b) == 0 {
		return string(b)
	}
	if p.strs == nil {
		p.strs = new([internSlots]string)
	}
	slot := &p.strs[maphash.Bytes(p.seed, b)&(internSlots-1)]
	if *slot == string(b) {
		return *slot
	}
	s := string(b)
	*slot = s
	return s
}

// strBytes parses a string: its bytes in the input when it has no escape,
// else unescaped in scratch (valid until the next string).
func (p *eventParser) strBytes() ([]byte, bool) {
	if !p.consume('"') {
		return nil, false
	}
	start := p.i
	ascii := true
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s := p.b[start:p.i]
			p.i++
			return s, ascii || utf8.Valid(s)
		case c == '\\':
			return p.escaped(start)
		case c < 0x20:
			return nil, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
		p.i++
	}
	return nil, false
}

// escaped finishes a string that has escapes, from start, in scratch.
func (p *eventParser) escaped(start int) ([]byte, bool) {
	out, ok := p.unescape(append(p.scratch[:0], p.b[start:p.i]...))
	p.scratch = out[:0]
	return out, ok && utf8.Valid(out)
}

func (p *eventParser) unescape(out []byte) ([]byte, bool) {
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			p.i++
			return out, true
		case c < 0x20:
			return out, false
		case c != '\\':
			out = append(out, c)
			p.i++
			continue
		}
		if p.i+1 >= len(p.b) {
			return out, false
		}
		e := p.b[p.i+1]
		p.i += 2
		switch e {
		case '"', '\\', '/':
			out = append(out, e)
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			if p.i+4 > len(p.b) {
				return out, false
			}
			var r rune
			for _, h := range p.b[p.i : p.i+4] {
				switch {
				case h >= '0' && h <= '9':
					r = r<<4 | rune(h-'0')
				case h >= 'a' && h <= 'f':
					r = r<<4 | rune(h-'a'+10)
				case h >= 'A' && h <= 'F':
					r = r<<4 | rune(h-'A'+10)
				default:
					return out, false
				}
			}
			if r >= 0xd800 && r < 0xe000 {
				return out, false // surrogates: encoding/json pairs them
			}
			out = utf8.AppendRune(out, r)
			p.i += 4
		default:
			return out, false
		}
	}
	return out, false
}
