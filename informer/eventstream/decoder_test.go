package eventstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/moby/moby/api/types/events"
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
			err := NewDecoder(strings.NewReader(tt.json)).Decode(&dm)
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
			dec := NewDecoder(r)
			var got []events.Message
			var err error
			for {
				var m events.Message
				if err = dec.Decode(&m); err != nil {
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

// BenchmarkEventDecoder decodes a stream of the benchmark's events: 100
// containers, kill/die/start/health_status.
func BenchmarkEventDecoder(b *testing.B) {
	stream := benchEvents()
	for _, impl := range []string{"Decoder", "encoding/json"} {
		b.Run(impl, func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(int64(len(stream) / 1000))
			r := &loopReader{b: stream}
			var decode func(*events.Message) error
			if impl == "Decoder" {
				decode = NewDecoder(r).Decode
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

// benchEvents returns 1000 events of 100 containers (kill, die, start,
// health_status), as dockerd writes them, one a line.
func benchEvents() []byte {
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
	return stream
}
