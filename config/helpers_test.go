package config

import "testing"

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
