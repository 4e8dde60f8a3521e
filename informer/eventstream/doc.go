// Package eventstream reads a Docker engine's event stream (GET /events) and
// hands its events one at a time to the caller: Stream.Next decodes the next
// event into the caller's message, on the caller's goroutine. No goroutine and
// no channel stand between the connection and the caller, so the goroutine
// that calls Next (the informer's reader) is the only one an event crosses
// before it reaches the informer's buffer.
//
// Three parts:
//
//   - Dialer opens the stream on a connection of its own: the request is
//     written with net/http's Request.Write and the answer's header read with
//     http.ReadResponse, without an http.Transport (which keeps two
//     goroutines and two buffers per connection for as long as it lives: the
//     stream is the longest-lived connection to every engine).
//   - The body's chunked coding is removed in place, in the decoder's buffer
//     (chunked.go): docs/BENCHMARKS.md ("Event stream: own HTTP client vs
//     net/http") measures this against net/http's own chunked reader.
//   - Decoder frames the JSON values and parses each with a parser of the one
//     shape dockerd writes, about four times faster than encoding/json; what
//     it does not take exactly as encoding/json would goes to encoding/json,
//     so the result is the same (FuzzEventParser checks it).
//
// FromChannels adapts the Docker client's own Events (a channel API) to a
// Stream, for the engines the Dialer cannot reach directly (an HTTP proxy).
package eventstream
