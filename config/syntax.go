package config

import (
	"bytes"
	"strconv"
	"strings"
	"unicode/utf8"
)

// syntaxError turns a yaml.v3 error, such as "yaml: line 3: mapping values
// are not allowed in this context", into a positioned Error. yaml.v3 gives
// at best a line; this recovers what it can:
//
//   - parser (as opposed to scanner) problems report a 0-based line;
//   - a tab in the indentation of the line gives the column, and so does
//     the colon of "key: a: b" and the * of "type: *";
//   - encoding problems and unknown anchors, reported without a line, are
//     located by looking for them in the data.
//
// When nothing better is known the position is line 1, column 1.
func (p *parser) syntaxError(err error) *Error {
	msg := strings.TrimPrefix(err.Error(), "yaml: ")
	line, col := 0, 1
	if rest, ok := strings.CutPrefix(msg, "line "); ok {
		digits := 0
		for digits < len(rest) && '0' <= rest[digits] && rest[digits] <= '9' {
			digits++
		}
		if n, err := strconv.Atoi(rest[:digits]); err == nil && strings.HasPrefix(rest[digits:], ": ") {
			line, msg = n, rest[digits+2:]
			if isParserProblem(msg) {
				line++
			}
		}
	}
	switch {
	case line > 0 && (strings.Contains(msg, "tab") || strings.Contains(msg, "cannot start any token")):
		if c := p.tabColumn(line); c > 0 {
			col = c
			msg += " (indent with spaces, not tabs)"
		}
	case line > 0 && msg == "mapping values are not allowed in this context":
		col = p.colonColumn(line)
		msg += ` (put quotes around a value that holds ": ", as in type: "health_status: healthy")`
	case line > 0 && msg == "did not find expected alphabetic or numeric character":
		if c := p.loneStarColumn(line); c > 0 {
			col = c
			msg += ` (a lone * starts a YAML alias: quote it, as in type: "*")`
		}
	case strings.Contains(msg, "UTF-8") || strings.Contains(msg, "control characters"):
		line, col = p.badCharPos()
	case strings.HasPrefix(msg, "unknown anchor '"):
		name, _, _ := strings.Cut(strings.TrimPrefix(msg, "unknown anchor '"), "'")
		line, col = p.find("*" + name)
	}
	return &Error{File: p.file, Line: max(line, 1), Col: max(col, 1), Msg: "invalid YAML: " + msg}
}

// isParserProblem reports whether msg is one of the problems that yaml.v3's
// parser (not its scanner) reports; those come with a 0-based line number.
func isParserProblem(msg string) bool {
	switch msg {
	case "did not find expected ',' or ']'",
		"did not find expected ',' or '}'",
		"did not find expected '-' indicator",
		"did not find expected <document start>",
		"did not find expected <stream-start>",
		"did not find expected key",
		"did not find expected node content",
		"found duplicate %TAG directive",
		"found duplicate %YAML directive",
		"found incompatible YAML document",
		"found undefined tag handle":
		return true
	}
	return false
}

// line returns the text of the 1-based line n of the data, without its line
// break; ok is false if there is no such line.
func (p *parser) line(n int) (text []byte, ok bool) {
	data := p.data
	for i := 1; i < n; i++ {
		nl := bytes.IndexByte(data, '\n')
		if nl < 0 {
			return nil, false
		}
		data = data[nl+1:]
	}
	if nl := bytes.IndexByte(data, '\n'); nl >= 0 {
		data = data[:nl]
	}
	return bytes.TrimSuffix(data, []byte("\r")), true
}

// tabColumn returns the 1-based column of the first tab in the indentation
// of line n, 0 if there is none.
func (p *parser) tabColumn(n int) int {
	text, ok := p.line(n)
	if !ok {
		return 0
	}
	for i, c := range text {
		switch c {
		case '\t':
			return i + 1
		case ' ':
		default:
			return 0
		}
	}
	return 0
}

// colonColumn guesses the column of the ':' that yaml.v3 rejected with
// "mapping values are not allowed" on line n: the second key-like colon of
// the line ("type: a: b"), or the first one if there is only one (a
// continuation line that reads as a key). It returns 1 if there is none.
func (p *parser) colonColumn(n int) int {
	text, ok := p.line(n)
	if !ok {
		return 1
	}
	var cols []int
	for i := 0; i < len(text); i++ {
		if text[i] == ':' && (i+1 == len(text) || text[i+1] == ' ' || text[i+1] == '\t') {
			cols = append(cols, utf8.RuneCount(text[:i])+1)
		}
	}
	switch len(cols) {
	case 0:
		return 1
	case 1:
		return cols[0]
	}
	return cols[1]
}

// loneStarColumn returns the column of the first * on line n that is not
// followed by an alias name (as in "type: *"), 0 if there is none.
func (p *parser) loneStarColumn(n int) int {
	text, ok := p.line(n)
	if !ok {
		return 0
	}
	for i := 0; i < len(text); i++ {
		if text[i] != '*' {
			continue
		}
		if i+1 == len(text) || bytes.IndexByte([]byte(" \t,]}"), text[i+1]) >= 0 {
			return utf8.RuneCount(text[:i]) + 1
		}
	}
	return 0
}

// badCharPos returns the position of the first byte sequence that YAML does
// not allow: invalid UTF-8 or a control character. It gives 1:1 for UTF-16
// input, which yaml.v3 accepts when it starts with a byte order mark.
func (p *parser) badCharPos() (line, col int) {
	data := p.data
	if bytes.HasPrefix(data, []byte{0xFE, 0xFF}) || bytes.HasPrefix(data, []byte{0xFF, 0xFE}) {
		return 1, 1
	}
	line, col = 1, 1
	for i := 0; i < len(data); {
		r, w := utf8.DecodeRune(data[i:])
		if r == utf8.RuneError && w <= 1 || !yamlAllowed(r) {
			return line, col
		}
		if r == '\n' {
			line, col = line+1, 1
		} else if r != 0xFEFF || i > 0 {
			col++
		}
		i += w
	}
	return 1, 1
}

// yamlAllowed reports whether r may appear in a YAML stream.
func yamlAllowed(r rune) bool {
	return r == '\t' || r == '\n' || r == '\r' ||
		r >= 0x20 && r <= 0x7E || r == 0x85 ||
		r >= 0xA0 && r <= 0xD7FF || r >= 0xE000 && r <= 0xFFFD ||
		r >= 0x10000 && r <= 0x10FFFF
}

// find returns the position of the first occurrence of s in the data that
// is not followed by another name character, 1:1 if there is none.
func (p *parser) find(s string) (line, col int) {
	data := p.data
	off := 0
	for {
		i := bytes.Index(data[off:], []byte(s))
		if i < 0 {
			return 1, 1
		}
		end := off + i + len(s)
		if end == len(data) || bytes.IndexByte([]byte(" \t\r\n,]}"), data[end]) >= 0 {
			before := data[:off+i]
			line = bytes.Count(before, []byte("\n")) + 1
			col = utf8.RuneCount(before[bytes.LastIndexByte(before, '\n')+1:]) + 1
			return line, col
		}
		off += i + 1
	}
}
