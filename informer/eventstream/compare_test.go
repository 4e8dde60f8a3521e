package eventstream

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// The benchmarks of this file compare the stream's own HTTP parts with
// net/http's, for docs/BENCHMARKS.md ("Event stream: own HTTP client vs
// net/http").

// benchStream returns 1000 events as dockerd writes them (see
// BenchmarkEventDecoder), one chunk each, as the body of GET /events.
func benchChunkedStream(b *testing.B) (body []byte, perEvent int) {
	b.Helper()
	var sb strings.Builder
	cw := httputil.NewChunkedWriter(&sb)
	plain := benchEvents()
	for _, l := range strings.SplitAfter(string(plain), "\n") {
		if l != "" {
			_, _ = io.WriteString(cw, l)
		}
	}
	return []byte(sb.String()), len(plain) / 1000
}

// countingReader counts the reads of r: one per read(2) on a connection.
type countingReader struct {
	r     io.Reader
	reads int
}

func (c *countingReader) Read(p []byte) (int, error) {
	c.reads++
	return c.r.Read(p)
}

// BenchmarkChunkedBody decodes a chunked event stream with the chunked coding
// removed in place (own) or by net/http's chunked reader over a bufio.Reader
// of the header buffer's size (what http.ReadResponse's Body does) or of 4 KiB
// (net/http's default). reads/event is how many reads of the connection each
// event costs.
func BenchmarkChunkedBody(b *testing.B) {
	body, perEvent := benchChunkedStream(b)
	for _, impl := range []struct {
		name string
		wrap func(io.Reader) io.Reader
	}{
		{"own", func(r io.Reader) io.Reader { return &streamBody{conn: r, chunked: true} }},
		{"net/http bufio 512", func(r io.Reader) io.Reader { return httputil.NewChunkedReader(bufio.NewReaderSize(r, headerBuffer)) }},
		{"net/http bufio 4096", func(r io.Reader) io.Reader { return httputil.NewChunkedReader(bufio.NewReaderSize(r, 4096)) }},
	} {
		b.Run(impl.name, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(perEvent))
			conn := &countingReader{r: &loopReader{b: body}}
			dec := NewDecoder(impl.wrap(conn))
			n := 0
			for b.Loop() {
				var m events.Message
				if err := dec.Decode(&m); err != nil {
					b.Fatal(err)
				}
				n++
			}
			b.ReportMetric(float64(conn.reads)/float64(n), "reads/event")
		})
	}
}

// idleServer answers GET /events with the header and nothing more, as a
// quiet engine, until the request ends.
func idleServer(b *testing.B) string {
	b.Helper()
	return serveB(b, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusOK)
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	}))
}

// BenchmarkIdleStreams opens 100 streams to a quiet engine and reports what
// each costs the daemon while it waits: goroutines and heap, with the
// Dialer (own) or with an http.Client whose transport is set up as the
// Docker client's, its buffers as small as the Dialer's.
func BenchmarkIdleStreams(b *testing.B) {
	const streams = 100
	host := idleServer(b)
	addr := strings.TrimPrefix(host, "tcp://")
	for _, impl := range []string{"own", "net/http"} {
		b.Run(impl, func(b *testing.B) {
			var goroutines, heap float64
			for b.Loop() {
				ctx, cancel := context.WithCancel(context.Background())
				var open func() (io.Closer, error)
				switch impl {
				case "own":
					d := NewDialer(DialerOptions{Host: host})
					open = func() (io.Closer, error) { return d.Open(ctx, client.EventsListOptions{}) }
				default:
					hc := &http.Client{Transport: &http.Transport{ReadBufferSize: bufferMin, WriteBufferSize: headerBuffer, DisableKeepAlives: true}}
					open = func() (io.Closer, error) {
						req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/events", nil)
						resp, err := hc.Do(req)
						if err != nil {
							return nil, err
						}
						// The decoder's buffer, as the Dialer's stream has.
						_ = NewDecoder(resp.Body)
						return resp.Body, nil
					}
				}
				runtime.GC()
				var before runtime.MemStats
				runtime.ReadMemStats(&before)
				g0 := runtime.NumGoroutine()
				var streams_ []io.Closer
				for range streams {
					c, err := open()
					if err != nil {
						b.Fatal(err)
					}
					streams_ = append(streams_, c)
				}
				time.Sleep(50 * time.Millisecond) // the transport's loops start
				runtime.GC()
				var after runtime.MemStats
				runtime.ReadMemStats(&after)
				goroutines = float64(runtime.NumGoroutine()-g0) / streams
				heap = float64(int64(after.HeapInuse+after.StackInuse)-int64(before.HeapInuse+before.StackInuse)) / streams
				var wg sync.WaitGroup
				for _, c := range streams_ {
					wg.Go(func() { _ = c.Close() })
				}
				wg.Wait()
				cancel()
			}
			// The server's handler goroutine of each stream is counted in
			// both: it runs in this process.
			b.ReportMetric(goroutines, "goroutines/stream")
			b.ReportMetric(heap, "B/stream")
		})
	}
}

func serveB(b *testing.B, h http.Handler) string {
	b.Helper()
	s := httptest.NewServer(h)
	b.Cleanup(s.Close)
	return fmt.Sprintf("tcp://%s", s.Listener.Addr())
}

// TestDecoderGrowsOverChunkedBody checks that a decoder reading a chunked
// body that keeps its buffer full grows it to bufferMax: the framing the body
// removes does not hide a full read.
func TestDecoderGrowsOverChunkedBody(t *testing.T) {
	t.Parallel()
	var sb strings.Builder
	cw := httputil.NewChunkedWriter(&sb)
	for range 100 {
		_, _ = io.WriteString(cw, dockerdKill+"\n")
	}
	dec := NewDecoder(&streamBody{conn: &loopReader{b: []byte(sb.String())}, chunked: true})
	for range 100 {
		var m events.Message
		if err := dec.Decode(&m); err != nil {
			t.Fatal(err)
		}
	}
	if cap(dec.buf) != bufferMax {
		t.Errorf("buffer of %d bytes, want %d", cap(dec.buf), bufferMax)
	}
}
