package informer

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/config"
)

// A kill event as dockerd 20.10 writes it.
const dockerdKill = `{"status":"kill","id":"9f1c0d","from":"busybox","Type":"container","Action":"kill","Actor":{"ID":"9f1c0d","Attributes":{"image":"busybox","name":"web-1","signal":"10","com.example.app":"web"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}`

// eventCases are event documents with whether the parser takes them itself
// (fast) or leaves them to encoding/json; either way the result must be
// encoding/json's.
var eventCases = []struct {
	name string
	json string
	fast bool
}{
	{"dockerd 20.10 kill", dockerdKill, true},
	{"no deprecated fields", `{"Type":"container","Action":"die","Actor":{"ID":"a","Attributes":{"exitCode":"137"}},"scope":"local","time":1,"timeNano":2}`, true},
	{"spaces everywhere", " { \"Type\" : \"container\" ,\n\"Action\":\"start\",\t\"Actor\" : { \"ID\" : \"a\" , \"Attributes\" : { } } } ", true},
	{"health with status", `{"Type":"container","Action":"health_status: unhealthy","Actor":{"ID":"a","Attributes":{"name":"x"}},"timeNano":5}`, true},
	{"HTML escapes, as Go encodes", `{"Type":"container","Action":"exec_start: sh -c a \u0026\u0026 b \u003e c","Actor":{"ID":"a","Attributes":{"execID":"e"}}}`, true},
	{"all short escapes", `{"Type":"container","Action":"x","Actor":{"ID":"a","Attributes":{"k\"\\\/":"\b\f\n\r\t"}}}`, true},
	{"unicode raw and escaped", `{"Type":"container","Action":"x","Actor":{"ID":"a","Attributes":{"é":"\u00e9 ☃ \u2603"}}}`, true},
	{"empty", `{}`, true},
	{"negative and zero ints", `{"time":-5,"timeNano":0}`, true},
	{"no attributes", `{"Type":"container","Action":"x","Actor":{"ID":"a"}}`, true},
	{"duplicate attribute keeps the last", `{"Actor":{"Attributes":{"k":"1","k":"2"}}}`, true},

	{"other spelling of a field", `{"type":"container","action":"x"}`, false},
	{"unknown field", `{"Type":"container","Extra":{"a":[1,2]},"Action":"x"}`, false},
	{"duplicate field", `{"Action":"a","Action":"b"}`, false},
	{"null attributes", `{"Actor":{"ID":"a","Attributes":null}}`, false},
	{"null attribute value", `{"Actor":{"ID":"a","Attributes":{"k":null}}}`, false},
	{"surrogate pair", `{"Action":"\ud83d\ude00"}`, false},
	{"lone surrogate", `{"Action":"\ud83d"}`, false},
	{"invalid UTF-8", "{\"Action\":\"a\xffb\"}", false},
	{"largest int", `{"timeNano":9223372036854775807}`, true},
	{"smallest int", `{"timeNano":-9223372036854775808}`, true},
	{"int too large", `{"timeNano":9223372036854775808}`, false},
	{"int too small", `{"timeNano":-9223372036854775809}`, false},
	{"20 digits", `{"timeNano":12345678901234567890}`, false},
	{"float time", `{"time":1.5}`, false},
	{"exponent", `{"time":1e3}`, false},
	{"leading zero", `{"time":01}`, false},
	{"string for int", `{"time":"1"}`, false},
	{"number attribute", `{"Actor":{"Attributes":{"k":1}}}`, false},
	{"bad escape", `{"Action":"\x"}`, false},
	{"control character", "{\"Action\":\"a\tb\"}", false},
	{"trailing comma", `{"Action":"a",}`, false},
	{"missing colon", `{"Action" "a"}`, false},
	{"array", `[1,2]`, false},
}

func TestEventParserAgreesWithEncodingJSON(t *testing.T) {
	t.Parallel()
	for _, tt := range eventCases {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			p := eventParser{seed: maphash.MakeSeed()}
			var got events.Message
			fast := p.message([]byte(tt.json), &got)
			if fast != tt.fast {
				t.Errorf("parsed by the fast path: %v, want %v", fast, tt.fast)
			}
			var want events.Message
			wantErr := json.Unmarshal([]byte(tt.json), &want)
			if fast && (wantErr != nil || !reflect.DeepEqual(got, want)) {
				t.Errorf("fast path gave %+v; encoding/json %+v, %v", got, want, wantErr)
			}
			// Through the decoder (fast path or not): encoding/json's result.
			var dm events.Message
			err := newEventDecoder(strings.NewReader(tt.json)).decode(&dm)
			if (err != nil) != (wantErr != nil) {
				t.Fatalf("decode error %v, encoding/json's %v", err, wantErr)
			}
			if err == nil && !reflect.DeepEqual(dm, want) {
				t.Errorf("decode = %+v, want %+v", dm, want)
			}
		})
	}
}

// FuzzEventParser checks that whatever the fast path accepts, encoding/json
// decodes to the same message.
func FuzzEventParser(f *testing.F) {
	for _, tt := range eventCases {
		f.Add([]byte(tt.json))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		p := eventParser{seed: maphash.MakeSeed()}
		var got events.Message
		if !p.message(b, &got) {
			return
		}
		var want events.Message
		if err := json.Unmarshal(b, &want); err != nil {
			t.Fatalf("fast path accepted %q, encoding/json: %v", b, err)
		}
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: fast path %+v, encoding/json %+v", b, got, want)
		}
	})
}

func TestEventDecoderStream(t *testing.T) {
	t.Parallel()
	docs := []string{
		dockerdKill,
		`{"Type":"container","Action":"other","Extra":1,"Actor":{"ID":"b"}}`, // encoding/json's path
		`{"Type":"container","Action":"die","Actor":{"ID":"c","Attributes":{"exitCode":"0"}},"timeNano":3}`,
	}
	var want []events.Message
	for _, d := range docs {
		var m events.Message
		if err := json.Unmarshal([]byte(d), &m); err != nil {
			t.Fatal(err)
		}
		want = append(want, m)
	}
	tests := []struct {
		name    string
		stream  string
		one     bool  // one byte per read
		wantN   int   // messages before the error
		wantErr error // nil: any error
	}{
		{name: "newline delimited", stream: strings.Join(docs, "\n") + "\n", wantN: 3, wantErr: io.EOF},
		{name: "one byte at a time", stream: strings.Join(docs, "\n") + "\n", one: true, wantN: 3, wantErr: io.EOF},
		{name: "json-seq", stream: "\x1e" + strings.Join(docs, "\n\x1e") + "\n", wantN: 3, wantErr: io.EOF},
		{name: "no separator", stream: strings.Join(docs, ""), wantN: 3, wantErr: io.EOF},
		{name: "cut in the middle", stream: docs[0] + "\n" + docs[1][:20], wantN: 1, wantErr: io.ErrUnexpectedEOF},
		{name: "not an object", stream: docs[0] + "\n42\n", wantN: 1},
		{name: "invalid JSON", stream: docs[0] + "\n{\"Action\":}\n", wantN: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var r io.Reader = strings.NewReader(tt.stream)
			if tt.one {
				r = iotest.OneByteReader(r)
			}
			dec := newEventDecoder(r)
			var got []events.Message
			var err error
			for {
				var m events.Message
				if err = dec.decode(&m); err != nil {
					break
				}
				got = append(got, m)
			}
			if len(got) != tt.wantN || !reflect.DeepEqual(got, want[:tt.wantN]) {
				t.Errorf("decoded %+v, want %+v", got, want[:tt.wantN])
			}
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Errorf("error %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && (err == nil || errors.Is(err, io.EOF)) {
				t.Errorf("error %v, want a decoding error", err)
			}
		})
	}
}

// fakeEvents serves /_ping and a streamed /events that writes lines, then
// blocks until the request ends. It records the last events request.
type fakeEvents struct {
	lines  []string
	status int
	hang   bool // never answer /events
	got    chan *http.Request
}

func (f *fakeEvents) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if strings.HasSuffix(r.URL.Path, "/_ping") {
		w.Header().Set("Api-Version", "1.41")
		_, _ = io.WriteString(w, "OK")
		return
	}
	if !strings.HasSuffix(r.URL.Path, "/events") {
		http.NotFound(w, r)
		return
	}
	f.got <- r
	if f.hang {
		<-r.Context().Done()
		return
	}
	if f.status != 0 {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(f.status)
		_, _ = io.WriteString(w, `{"message":"invalid filter 'bogus'"}`)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	w.(http.Flusher).Flush()
	for _, l := range f.lines {
		_, _ = io.WriteString(w, l+"\n")
		w.(http.Flusher).Flush()
	}
	<-r.Context().Done()
}

func TestEngineClientEvents(t *testing.T) {
	t.Parallel()
	lines := []string{dockerdKill, `{"Type":"container","Action":"die","Actor":{"ID":"c","Attributes":{"exitCode":"0"}},"timeNano":3}`}
	tests := []struct {
		name    string
		network string // tcp or unix
		status  int
	}{
		{name: "tcp", network: "tcp"},
		{name: "unix socket", network: "unix"},
		{name: "error status", network: "tcp", status: http.StatusBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := &fakeEvents{lines: lines, status: tt.status, got: make(chan *http.Request, 1)}
			url := serve(t, tt.network, f)
			cli, err := NewClient(config.Engine{Name: "e", URL: url})
			if err != nil {
				t.Fatal(err)
			}
			defer cli.Close()
			if cli.stream == nil {
				t.Fatal("no direct event stream")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
				t.Fatal(err)
			}
			sctx, scancel := context.WithCancel(ctx)
			res := cli.Events(sctx, client.EventsListOptions{Since: "1700000000.000000001", Filters: client.Filters{}.Add("type", "container")})
			if tt.status != 0 {
				err := <-res.Err
				if err == nil || !strings.Contains(err.Error(), "invalid filter 'bogus'") {
					t.Fatalf("error %v, want the engine's message", err)
				}
				scancel()
				return
			}
			r := <-f.got
			if r.URL.Path != "/v1.41/events" || r.URL.Query().Get("since") != "1700000000.000000001" ||
				r.URL.Query().Get("filters") != `{"type":{"container":true}}` || r.UserAgent() != userAgent {
				t.Errorf("request %s %v (User-Agent %q)", r.URL.Path, r.URL.Query(), r.UserAgent())
			}
			for i, l := range lines {
				var want events.Message
				_ = json.Unmarshal([]byte(l), &want)
				select {
				case m := <-res.Messages:
					if !reflect.DeepEqual(m, want) {
						t.Errorf("message %d = %+v, want %+v", i, m, want)
					}
				case err := <-res.Err:
					t.Fatalf("error before message %d: %v", i, err)
				}
			}
			scancel()
			if err := <-res.Err; !errors.Is(err, context.Canceled) {
				t.Errorf("after cancel: error %v, want context.Canceled", err)
			}
		})
	}
}

// TestEngineClientEventsHungEngine checks that an engine that never answers
// the request holds Events only until its context ends.
func TestEngineClientEventsHungEngine(t *testing.T) {
	t.Parallel()
	f := &fakeEvents{hang: true, got: make(chan *http.Request, 1)}
	cli, err := NewClient(config.Engine{Name: "e", URL: serve(t, "tcp", f)})
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-f.got
		cancel()
	}()
	done := make(chan client.EventsResult)
	go func() { done <- cli.Events(ctx, client.EventsListOptions{}) }()
	select {
	case res := <-done:
		if err := <-res.Err; !errors.Is(err, context.Canceled) {
			t.Errorf("error %v, want context.Canceled", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Events did not return after its context ended")
	}
}

func TestNewEventStreamFallsBack(t *testing.T) {
	t.Parallel()
	// A proxy for every engine but 10.0.0.1.
	proxy := func(r *http.Request) (*url.URL, error) {
		if strings.HasPrefix(r.URL.Host, "10.0.0.1:") {
			return nil, nil
		}
		return url.Parse("http://proxy:3128")
	}
	tests := []struct {
		host   string
		tls    bool
		direct bool
	}{
		{host: "tcp://10.0.0.1:2375", direct: true},
		{host: "tcp://10.0.0.1:2376", tls: true, direct: true},
		{host: "tcp://10.0.0.2:2375", direct: false}, // through the proxy, as the Docker client
		{host: "unix:///var/run/docker.sock", direct: true},
	}
	for _, tt := range tests {
		cli, err := client.New(client.WithHost(tt.host))
		if err != nil {
			t.Fatal(err)
		}
		var tc *tls.Config
		if tt.tls {
			tc = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		s := newEventStream(cli, tt.host, tc, proxy)
		if got := s != nil; got != tt.direct {
			t.Errorf("%s: direct stream %v, want %v", tt.host, got, tt.direct)
		}
		if s != nil && tt.tls && (s.tls.ServerName != "10.0.0.1" || tc.ServerName != "") {
			t.Errorf("%s: TLS server name %q (config given: %q), want 10.0.0.1 on a copy", tt.host, s.tls.ServerName, tc.ServerName)
		}
		cli.Close()
	}
}

func TestPlainTimestamp(t *testing.T) {
	t.Parallel()
	for s, want := range map[string]bool{
		"": true, "0": true, "1700000000": true, "1700000000.123456789": true, "1700000000.5": true,
		"1700000000.1234567890": false, "10m": false, "2024-01-01T00:00:00Z": false, ".5": false, "1.": false,
	} {
		if got := plainTimestamp(s); got != want {
			t.Errorf("plainTimestamp(%q) = %v, want %v", s, got, want)
		}
	}
}

// serve serves h on a loopback port or a unix socket and returns its URL.
func serve(t *testing.T, network string, h http.Handler) string {
	t.Helper()
	if network == "tcp" {
		s := httptest.NewServer(h)
		t.Cleanup(s.Close)
		return "tcp://" + s.Listener.Addr().String()
	}
	sock := filepath.Join(t.TempDir(), "d.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	s := &httptest.Server{Listener: l, Config: &http.Server{Handler: h}}
	s.Start()
	t.Cleanup(s.Close)
	return "unix://" + sock
}

// BenchmarkEventDecoder decodes a stream of the benchmark's events: 100
// containers, kill/die/start/health_status.
func BenchmarkEventDecoder(b *testing.B) {
	var stream []byte
	actions := []string{`kill","Actor":{"ID":"%s","Attributes":{"com.example.app":"bench","com.example.index":"%d","image":"bench/app:1","name":"c%d","signal":"10"`,
		`die","Actor":{"ID":"%s","Attributes":{"com.example.app":"bench","com.example.index":"%d","exitCode":"0","image":"bench/app:1","name":"c%d"`,
		`start","Actor":{"ID":"%s","Attributes":{"com.example.app":"bench","com.example.index":"%d","image":"bench/app:1","name":"c%d"`,
		`health_status: healthy","Actor":{"ID":"%s","Attributes":{"com.example.app":"bench","com.example.index":"%d","image":"bench/app:1","name":"c%d"`}
	for i := range 1000 {
		c := i * 7 % 100
		id := fmt.Sprintf("%064x", c*7919+1)
		a := fmt.Sprintf(actions[i%len(actions)], id, c, c)
		stream = fmt.Appendf(stream, `{"status":"x","id":"%s","from":"bench/app:1","Type":"container","Action":"%s}},"scope":"local","time":1700000000,"timeNano":%d}`+"\n",
			id, a, 1700000000000000000+int64(i))
	}
	for _, impl := range []string{"eventDecoder", "encoding/json"} {
		b.Run(impl, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(stream) / 1000))
			r := &loopReader{b: stream}
			var decode func(*events.Message) error
			if impl == "eventDecoder" {
				decode = newEventDecoder(r).decode
			} else {
				jd := json.NewDecoder(r)
				decode = func(m *events.Message) error { return jd.Decode(m) }
			}
			for b.Loop() {
				var m events.Message
				if err := decode(&m); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// loopReader reads b over and over, at most 4 KiB at a time (a socket's
// buffer).
type loopReader struct {
	b   []byte
	off int
}

func (r *loopReader) Read(p []byte) (int, error) {
	n := copy(p[:min(len(p), 4096)], r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}

// splitReader returns its data in reads of the given sizes, cycling.
type splitReader struct {
	data  []byte
	sizes []int
	n     int
}

func (r *splitReader) Read(p []byte) (int, error) {
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	k := min(len(p), len(r.data), r.sizes[r.n%len(r.sizes)])
	r.n++
	copy(p, r.data[:k])
	r.data = r.data[k:]
	return k, nil
}

func TestStreamBodyChunked(t *testing.T) {
	t.Parallel()
	payload := strings.Repeat(dockerdKill+"\n", 5)
	var enc strings.Builder
	cw := httputil.NewChunkedWriter(&enc)
	for _, l := range strings.SplitAfter(payload, "\n") {
		_, _ = io.WriteString(cw, l)
	}
	_ = cw.Close()
	wellFormed := enc.String() + "\r\n"
	tests := []struct {
		name    string
		raw     string
		pre     int // bytes read with the header
		want    string
		wantErr error
	}{
		{name: "as net/http writes it", raw: wellFormed, want: payload, wantErr: io.EOF},
		{name: "part read with the header", raw: wellFormed, pre: 7, want: payload, wantErr: io.EOF},
		{name: "extensions, trailer, upper-case hex", raw: "A;x=1\r\n0123456789\r\n3 \r\nabc\r\n0\r\nX-T: 1\r\n\r\n", want: "0123456789abc", wantErr: io.EOF},
		{name: "bare LF", raw: "3\nabc\n0\n\n", want: "abc", wantErr: io.EOF},
		{name: "cut mid-chunk", raw: "a\r\n01234", want: "01234", wantErr: io.ErrUnexpectedEOF},
		{name: "no last chunk", raw: "3\r\nabc\r\n", want: "abc", wantErr: io.ErrUnexpectedEOF},
		{name: "bad size", raw: "3\r\nabc\r\nzz\r\n", want: "abc", wantErr: errChunked},
		{name: "empty size", raw: "\r\nabc", wantErr: errChunked},
		{name: "no CRLF after data", raw: "3\r\nabcd\r\n", want: "abc", wantErr: errChunked},
		{name: "huge size", raw: "1000000000000000\r\n", wantErr: errChunked},
	}
	for _, tt := range tests {
		for _, sizes := range [][]int{{1}, {2, 3, 5}, {4096}} {
			t.Run(fmt.Sprint(tt.name, sizes), func(t *testing.T) {
				t.Parallel()
				b := &streamBody{conn: &splitReader{data: []byte(tt.raw[tt.pre:]), sizes: sizes}, pre: []byte(tt.raw[:tt.pre]), chunked: true}
				var got []byte
				buf := make([]byte, 64)
				var err error
				for range 10000 {
					var n int
					n, err = b.Read(buf)
					got = append(got, buf[:n]...)
					if err != nil {
						break
					}
				}
				if string(got) != tt.want || !errors.Is(err, tt.wantErr) {
					t.Errorf("read %q, %v; want %q, %v", got, err, tt.want, tt.wantErr)
				}
			})
		}
	}
}

func TestStreamBodyIdentity(t *testing.T) {
	t.Parallel()
	b := &streamBody{conn: strings.NewReader("def"), pre: []byte("abc")}
	got, err := io.ReadAll(b)
	if string(got) != "abcdef" || err != nil {
		t.Errorf("read %q, %v; want \"abcdef\", nil", got, err)
	}
}
