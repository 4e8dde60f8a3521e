package endpoint

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/daemon"
)

func post(t *testing.T, cl *http.Client, url, contentType, body string) (int, DeadAnswer) {
	t.Helper()
	resp, err := cl.Post(url, contentType, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var a DeadAnswer
	if err := json.NewDecoder(resp.Body).Decode(&a); err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, a
}

// deadList GETs /dead.
func deadList(t *testing.T, cl *http.Client, base string) []daemon.DeadLetter {
	t.Helper()
	code, body := get(t, cl, base+"/dead")
	if code != 200 {
		t.Fatalf("GET /dead: %d %s", code, body)
	}
	var out []daemon.DeadLetter
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatal(err)
	}
	return out
}

// waitDead waits until /dead lists n letters.
func waitDead(t *testing.T, cl *http.Client, base string, n int) []daemon.DeadLetter {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l := deadList(t, cl, base)
		if len(l) == n {
			return l
		}
		if time.Now().After(deadline) {
			t.Fatalf("/dead lists %d letters, want %d: %+v", len(l), n, l)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestDeadLetterRoutesListRetryAndDropThroughTheEndpoint(t *testing.T) {
	_, fakes, opts := runDaemon(t, func(o *daemon.Options) {
		cfg, err := config.Parse("events.yml", []byte("cluster:\n  a: tcp://a.invalid:2375\n  b: tcp://b.invalid:2375\nevents:\n  - name: started\n    type: start\n    command: 'echo failing; exit 2'\n    retry: {max_attempts: 1}\n"))
		if err != nil {
			t.Fatal(err)
		}
		o.Config = cfg
	})
	cl, base := serve(t, *opts, "")
	fakes["a"].Create("c1", "web", "nginx", nil)
	fakes["a"].Start("c1")
	l := waitDead(t, cl, base, 1)[0]
	if l.Rule != "started" || l.Container != "web" || l.ExitCode != 2 || l.Stdout != "failing\n" || l.Attempts != 1 {
		t.Errorf("dead letter = %+v", l)
	}
	if _, st := get(t, cl, base+"/status"); !strings.Contains(st, `"deadLetters": 1`) {
		t.Errorf("status lacks deadLetters 1:\n%s", st)
	}
	_, body := get(t, cl, base+"/metrics")
	if !strings.Contains(body, `eventsd_dead_letters{rule="started"} 1`) {
		t.Errorf("metrics lack eventsd_dead_letters 1:\n%s", body)
	}

	for _, tt := range []struct {
		name, path, ctype, body string
		code                    int
	}{
		{"not JSON", "/dead/retry", "text/plain", `{"id":1}`, http.StatusUnsupportedMediaType},
		{"no id", "/dead/retry", "application/json", `{}`, http.StatusBadRequest},
		{"unknown field", "/dead/drop", "application/json", `{"ID":1,"x":2}`, http.StatusBadRequest},
		{"unknown id", "/dead/retry", "application/json", `{"id":999}`, http.StatusNotFound},
		{"drop all", "/dead/drop", "application/json", `{"all":true}`, http.StatusBadRequest},
	} {
		if code, a := post(t, cl, base+tt.path, tt.ctype, tt.body); code != tt.code {
			t.Errorf("%s: POST %s %s: %d %+v, want %d", tt.name, tt.path, tt.body, code, a, tt.code)
		}
	}

	code, a := post(t, cl, base+"/dead/retry", "application/json", `{"all":true}`)
	if code != 200 || a.Retried != 1 {
		t.Fatalf("retry all: %d %+v", code, a)
	}
	// It fails again: a new dead letter of the same event.
	l = waitDead(t, cl, base, 1)[0]
	code, a = post(t, cl, base+"/dead/retry", "application/json", `{"id":`+jsonID(l.ID)+`}`)
	if code != 200 || a.Retried != 1 || len(a.Deliveries) != 1 {
		t.Fatalf("retry: %d %+v", code, a)
	}
	again := waitDead(t, cl, base, 1)[0]
	if again.Event.ID != l.Event.ID || again.ID == l.ID {
		t.Errorf("after the retry: %+v, want a new letter of event %s", again, l.Event.ID)
	}
	if code, a := post(t, cl, base+"/dead/drop", "application/json", `{"id":`+jsonID(again.ID)+`}`); code != 200 || a.Dropped != again.ID {
		t.Fatalf("drop: %d %+v", code, a)
	}
	if n := len(deadList(t, cl, base)); n != 0 {
		t.Errorf("%d dead letters after the drop, want 0", n)
	}
}

func jsonID(id uint64) string {
	b, _ := json.Marshal(id)
	return string(b)
}
