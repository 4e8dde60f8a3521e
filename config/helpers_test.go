package config

import (
	"errors"
	"strings"
	"testing"
)

// testEnv is the environment of the tests' Loader.
func testEnv() map[string]string {
	return map[string]string{
		"HOST":     "10.0.0.1",
		"PORT":     "2376",
		"CERTS":    "/etc/certs",
		"EMPTY":    "",
		"HOME":     "/home/test",
		"DOLLARS":  "$HOST",
		"UNIX_DIR": "/run/user/1000",
	}
}

// testLoader returns a Loader that reads variables from env only.
func testLoader(env map[string]string) Loader {
	return Loader{LookupEnv: func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}}
}

// mustParse parses src with the test environment and fails the test on error.
func mustParse(t *testing.T, src string) *Config {
	t.Helper()
	cfg, err := testLoader(testEnv()).Parse("events.yml", []byte(src))
	if err != nil {
		t.Fatalf("Parse:\n%v\ninput:\n%s", err, src)
	}
	return cfg
}

// cluster2 is a valid cluster: of two engines, foo and bar, over lines 1-3;
// "events:" follows on line 4, so the first rule starts on line 5.
const cluster2 = `cluster:
  foo: tcp://127.0.0.1:2375
  bar: unix:///var/run/docker.sock
events:
`

// oneError is an input with exactly one problem, and the error it must give.
type oneError struct {
	name      string
	src       string
	line, col int
	field     string
	msg       string // a part of the message
}

// checkOneError parses tt.src and checks that it gives tt's error alone, and
// no config.
func checkOneError(t *testing.T, tt oneError) {
	t.Helper()
	cfg, err := testLoader(testEnv()).Parse("events.yml", []byte(tt.src))
	if err == nil {
		t.Fatalf("Parse succeeded (%+v), want an error; input:\n%s", cfg, tt.src)
	}
	if cfg != nil {
		t.Errorf("Parse returned a config with its error")
	}
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %T is not an ErrorList: %v", err, err)
	}
	if len(list) != 1 {
		t.Fatalf("got %d errors, want 1:\n%v\ninput:\n%s", len(list), err, tt.src)
	}
	e := list[0]
	if e.File != "events.yml" || e.Line != tt.line || e.Col != tt.col || e.Field != tt.field || !strings.Contains(e.Msg, tt.msg) {
		t.Errorf("got  %s\nwant events.yml:%d:%d: %s: ...%s...\ninput:\n%s", e, tt.line, tt.col, tt.field, tt.msg, tt.src)
	}
}
