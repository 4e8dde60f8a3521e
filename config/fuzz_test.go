package config

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func FuzzParse(f *testing.F) {
	files, err := filepath.Glob(filepath.Join("testdata", "*.yml"))
	if err != nil {
		f.Fatal(err)
	}
	files = append(files, filepath.Join("..", "events.yml"))
	for _, name := range files {
		data, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	for _, s := range []string{
		"",
		cluster2 + "  - type: [die, {health_status: healthy}]\n    exit_code: [1, 2]\n",
		cluster2 + "  - &r {type: 'kill, die', <<: {log: x}}\n  - *r\n",
		"cluster:\n  a:\n    url: tcp://${HOST}:1\n    tls: {ca: $CERTS/ca, verify: false}\n",
		"x: &a [*a]\ncluster: *a\nevents: *a\n",
		"cluster:\n\tfoo: tcp://h:1\n",
		cluster2 + "  - type: *\n",
	} {
		f.Add([]byte(s))
	}
	loader := testLoader(testEnv())
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := loader.Parse("events.yml", data)
		if err != nil {
			if cfg != nil {
				t.Errorf("Parse returned both a config and an error")
			}
			var list ErrorList
			if !errors.As(err, &list) || len(list) == 0 {
				t.Fatalf("error is not a non-empty ErrorList: %#v", err)
			}
			for _, e := range list {
				if e.Line < 1 || e.Col < 1 || e.File != "events.yml" || e.Msg == "" {
					t.Errorf("bad error %#v", e)
				}
			}
			return
		}
		if len(cfg.Engines) == 0 {
			t.Errorf("valid config without engines")
		}
		names := make(map[string]bool)
		for _, r := range cfg.Rules {
			if len(r.Types) == 0 || r.Name == "" || names[r.Name] {
				t.Errorf("bad rule %+v", r)
			}
			names[r.Name] = true
			if r.Timeout <= 0 || r.Retry.MaxAttempts < 1 || r.Retry.Backoff <= 0 || r.Retry.MaxBackoff < r.Retry.Backoff {
				t.Errorf("bad rule timing %+v", r)
			}
		}
	})
}
