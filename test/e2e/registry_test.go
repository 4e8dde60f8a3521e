package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-logr/logr/testr"

	"github.com/samalba/docker-eventsd/config"
	eventsd "github.com/samalba/docker-eventsd/daemon"
	"github.com/samalba/docker-eventsd/internal/testenv"
)

// TestEngineAddedToARunningDaemonHandsOnItsEvents runs the daemon in process
// on engine a only, adds engine b while it runs, and gets b's events.
func TestEngineAddedToARunningDaemonHandsOnItsEvents(t *testing.T) {
	engines := testenv.Engines(t)
	out := t.TempDir()
	cfg, err := config.Parse("events.yml", []byte(`
cluster:
  a: `+engines["a"]+`
events:
  - name: started
    type: start
    command: echo "$FROM_ENGINE $FROM_CONTAINER $FROM_ENGINE_URL" >> "$OUT/starts"
`))
	if err != nil {
		t.Fatal(err)
	}
	d, err := eventsd.New(eventsd.Options{
		Config:   cfg,
		StateDir: t.TempDir(),
		Environ:  []string{"PATH=" + os.Getenv("PATH"), "OUT=" + out},
		Logger:   testr.New(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()
	synced := func(name string) {
		t.Helper()
		select {
		case <-d.Informer(name).Synced():
		case <-time.After(30 * time.Second):
			t.Fatalf("engine %s not in sync", name)
		}
	}
	synced("a")
	if err := d.AddEngine(config.Engine{Name: "b", URL: engines["b"]}); err != nil {
		t.Fatal(err)
	}
	synced("b")
	name := unique("added")
	testenv.RunContainer(t, engines["b"], name, testenv.Image(t), "true")
	want := "b " + name + " " + engines["b"]
	deadline := time.Now().Add(30 * time.Second)
	for {
		b, _ := os.ReadFile(filepath.Join(out, "starts"))
		if strings.Contains(string(b), want+"\n") {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no handler run %q; runs:\n%s", want, b)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
