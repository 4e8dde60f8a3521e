package informer

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/config"
)

// TestEngineClientEventStream checks that NewClient's EventStream reads the
// engine's events, with the negotiated API version and the daemon's
// User-Agent: on a connection of its own for a plain since, and through the
// Docker client's Events for a since only the client understands.
func TestEngineClientEventStream(t *testing.T) {
	t.Parallel()
	const kill = `{"Type":"container","Action":"kill","Actor":{"ID":"9f1c0d","Attributes":{"signal":"10"}},"scope":"local","time":1700000000,"timeNano":1700000000123456789}`
	tests := []struct {
		name, since string
		direct      bool
	}{
		{name: "plain since: own connection", since: "1700000000.000000001", direct: true},
		{name: "duration since: the Docker client", since: "10m"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			got := make(chan *http.Request, 1)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if strings.HasSuffix(r.URL.Path, "/_ping") {
					w.Header().Set("Api-Version", "1.41")
					_, _ = io.WriteString(w, "OK")
					return
				}
				got <- r
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusOK)
				_, _ = io.WriteString(w, kill+"\n")
				w.(http.Flusher).Flush()
				<-r.Context().Done()
			}))
			defer srv.Close()
			cli, err := NewClient(config.Engine{Name: "e", URL: "tcp://" + srv.Listener.Addr().String()})
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
			defer scancel()
			s, err := cli.EventStream(sctx, client.EventsListOptions{Since: tt.since})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			var m events.Message
			if err := s.Next(&m); err != nil || m.Actor.ID != "9f1c0d" || m.TimeNano != 1700000000123456789 {
				t.Fatalf("Next = %+v, %v; want the kill", m, err)
			}
			r := <-got
			if r.URL.Path != "/v1.41/events" || r.UserAgent() != userAgent {
				t.Errorf("request %s (User-Agent %q)", r.URL.Path, r.UserAgent())
			}
			if since := r.URL.Query().Get("since"); (since == tt.since) != tt.direct {
				t.Errorf("since sent %q, given %q (direct: %v)", since, tt.since, tt.direct)
			}
			scancel()
			if err := s.Next(&events.Message{}); !errors.Is(err, context.Canceled) {
				t.Errorf("after cancel: error %v, want context.Canceled", err)
			}
		})
	}
}
