package eventstream

import (
	"errors"
	"fmt"
	"io"
	"net/http/httputil"
	"strings"
	"testing"
)

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
