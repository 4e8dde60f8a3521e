package e2e

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/internal/testenv"
)

// webhookHit is one request the test's receiver got.
type webhookHit struct {
	key, sig string
	body     []byte
}

// TestWebhookOfARealEventIsSignedRetriedAndCooledDown runs the daemon on a
// real engine with a rule whose action is a webhook to a receiver of the
// test, on loopback: the die of a container is sent, refused once (503) and
// sent again with the same Idempotency-Key and a valid signature; the
// container's next die, within the rule's cooldown, is skipped.
func TestWebhookOfARealEventIsSignedRetriedAndCooledDown(t *testing.T) {
	engines := testenv.Engines(t)
	img := testenv.Image(t)
	const secret = "e2e-webhook-secret"
	var (
		mu   sync.Mutex
		hits []webhookHit
	)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		hits = append(hits, webhookHit{key: r.Header.Get("Idempotency-Key"), sig: r.Header.Get("X-Eventsd-Signature"), body: b})
		n := len(hits)
		mu.Unlock()
		if n == 1 {
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	got := func() []webhookHit {
		mu.Lock()
		defer mu.Unlock()
		return append([]webhookHit(nil), hits...)
	}

	name := unique("hooked")
	cfg := clusterYAML(engines) + fmt.Sprintf(`
events:
  - name: hook
    type: die
    from_engine: a
    from_container: %s
    cooldown: 1h
    retry: {max_attempts: 3, backoff: 200ms}
    webhook:
      url: %s/events
      headers: {X-Test: e2e}
      timeout: 5s
      secret_env: HOOK_SECRET
`, name, srv.URL)
	out := t.TempDir()
	path := filepath.Join(out, "events.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	d := launchDaemon(t, path, out, "", []string{"HOOK_SECRET=" + secret}, len(engines))

	testenv.RunContainer(t, engines["a"], name, img, "sleep", "600")
	testenv.Docker(t, engines["a"], "kill", name)
	d.waitLog(`"msg":"Handler succeeded"`, 1, 30*time.Second)
	hs := got()
	if len(hs) != 2 {
		t.Fatalf("%d webhook requests, want 2 (503, then 204)", len(hs))
	}
	var doc struct {
		Event struct {
			ID     string `json:"id"`
			Action string `json:"action"`
		} `json:"event"`
		Container struct {
			Name string `json:"name"`
		} `json:"container"`
	}
	if err := json.Unmarshal(hs[0].body, &doc); err != nil || doc.Container.Name != name {
		t.Fatalf("body %s (%v); want the handler's JSON of %s", hs[0].body, err, name)
	}
	mac := hmac.New(sha256.New, []byte(secret))
	for i, h := range hs {
		mac.Reset()
		mac.Write(h.body)
		if want := "sha256=" + hex.EncodeToString(mac.Sum(nil)); h.sig != want {
			t.Errorf("request %d: signature %q, want %q", i, h.sig, want)
		}
		if h.key == "" || h.key != doc.Event.ID || string(h.body) != string(hs[0].body) {
			t.Errorf("request %d: Idempotency-Key %q; want the event's ID %q, the same body", i, h.key, doc.Event.ID)
		}
	}

	// The container dies again within the hour: skipped, nothing sent.
	testenv.Docker(t, engines["a"], "start", name)
	testenv.Docker(t, engines["a"], "kill", name)
	d.waitLog(`"msg":"Skipped delivery: the rule is cooling down"`, 1, 30*time.Second)
	if n := len(got()); n != 2 {
		t.Errorf("%d webhook requests after the second die, want still 2", n)
	}
	for _, l := range strings.Split(d.Logs(), "\n") {
		if strings.Contains(l, "Skipped delivery") && (!strings.Contains(l, `"rule":"hook"`) || !strings.Contains(l, `"container":"`+name+`"`)) {
			t.Errorf("the skip does not name the rule and the container: %s", l)
		}
	}
}
