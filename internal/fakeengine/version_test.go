package fakeengine_test

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/internal/fakeengine"
)

// mode returns the mode of an API version, or fails.
func mode(t *testing.T, api string) fakeengine.Mode {
	t.Helper()
	m, err := fakeengine.ModeFor(api)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// raw makes a request to engine 0 and returns the answer and its body.
func raw(t *testing.T, s *fakeengine.Server, path string, header http.Header) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+strings.TrimPrefix(s.URL(0), "tcp://")+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestEachModeAnswersItsVersionRangeAsDockerdDoes(t *testing.T) {
	tests := []struct {
		api, min, engine string
		// refused are version prefixes the mode refuses, with dockerd's message.
		refused  map[string]string
		accepted []string
	}{
		{api: "1.41", min: "1.12", engine: "20.10.24", accepted: []string{"1.12", "1.24", "1.41"}, refused: map[string]string{
			"1.44": "client version 1.44 is too new. Maximum supported API version is 1.41",
		}},
		{api: "1.44", min: "1.24", engine: "25.0.5", accepted: []string{"1.24", "1.41", "1.44"}, refused: map[string]string{
			"1.23": "client version 1.23 is too old. Minimum supported API version is 1.24, please upgrade your client to a newer version",
			"1.45": "client version 1.45 is too new. Maximum supported API version is 1.44",
		}},
		{api: "1.51", min: "1.24", engine: "28.3.3", accepted: []string{"1.24", "1.51"}, refused: map[string]string{
			"1.52": "client version 1.52 is too new. Maximum supported API version is 1.51",
		}},
		{api: "1.52", min: "1.44", engine: "29.0.0", accepted: []string{"1.44", "1.52"}, refused: map[string]string{
			"1.41": "client version 1.41 is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version",
			"1.43": "client version 1.43 is too old. Minimum supported API version is 1.44, please upgrade your client to a newer version",
			"1.56": "client version 1.56 is too new. Maximum supported API version is 1.52",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.api, func(t *testing.T) {
			s := newServer(t, fakeengine.Options{Engines: 1, Containers: 1, Mode: mode(t, tt.api)})
			resp, body := raw(t, s, "/_ping", nil)
			if resp.StatusCode != http.StatusOK || body != "OK" || resp.Header.Get("Api-Version") != tt.api ||
				resp.Header.Get("Server") != "Docker/"+tt.engine+"-fakeengine (linux)" {
				t.Errorf("/_ping: %s %q Api-Version=%q Server=%q", resp.Status, body, resp.Header.Get("Api-Version"), resp.Header.Get("Server"))
			}
			_, body = raw(t, s, "/version", nil)
			var v struct{ Version, ApiVersion, MinAPIVersion string } //nolint:revive // dockerd's names
			if err := json.Unmarshal([]byte(body), &v); err != nil || v.ApiVersion != tt.api || v.MinAPIVersion != tt.min ||
				v.Version != tt.engine+"-fakeengine" {
				t.Errorf("/version: %+v, %v", v, err)
			}
			for _, ver := range tt.accepted {
				if resp, body := raw(t, s, "/v"+ver+"/containers/json", nil); resp.StatusCode != http.StatusOK {
					t.Errorf("/v%s/containers/json: %s %s", ver, resp.Status, body)
				}
			}
			for ver, msg := range tt.refused {
				resp, body := raw(t, s, "/v"+ver+"/_ping", nil)
				var e struct{ Message string }
				_ = json.Unmarshal([]byte(body), &e)
				if resp.StatusCode != http.StatusBadRequest || e.Message != msg {
					t.Errorf("/v%s/_ping: %s %q, want 400 %q", ver, resp.Status, e.Message, msg)
				}
			}
			// Requests are counted by the version they were answered at.
			for ver := range tt.refused {
				if n := s.Engine(0).Requests("refused v" + ver); n != 1 {
					t.Errorf("refused at v%s: %d, want 1", ver, n)
				}
			}
			if n := s.Engine(0).Requests("v" + tt.accepted[0]); n != 1 {
				t.Errorf("answered at v%s: %d, want 1", tt.accepted[0], n)
			}
			// The Docker client negotiates the mode's version from the ping.
			c, err := client.New(client.WithHost(s.URL(0)))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.ContainerList(context.Background(), client.ContainerListOptions{All: true}); err != nil || c.ClientVersion() != tt.api {
				t.Errorf("client: version %s, list %v; want %s", c.ClientVersion(), err, tt.api)
			}
		})
	}
}

// streamLines opens /events?since=0 (the ring, then live) on engine 0 at the
// version prefix and returns the Content-Type and the first n records.
func streamLines(t *testing.T, s *fakeengine.Server, prefix, accept string, n int) (string, []string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, "http://"+strings.TrimPrefix(s.URL(0), "tcp://")+prefix+"/events?since=0", nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	resp, err := http.DefaultClient.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	var out []string
	for len(out) < n {
		line, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("%s/events: %d records: %v", prefix, len(out), err)
		}
		out = append(out, strings.TrimSuffix(line, "\n"))
	}
	return resp.Header.Get("Content-Type"), out
}

func TestEventsLeaveOutTheLegacyFieldsFromAPI152AndNegotiateTheirMediaType(t *testing.T) {
	tests := []struct {
		api, prefix, accept string
		wantType            string
		legacy, seq         bool
	}{
		{api: "1.41", wantType: "application/json", legacy: true},
		{api: "1.41", accept: "application/x-ndjson", wantType: "application/json", legacy: true},
		{api: "1.51", accept: "application/x-ndjson", wantType: "application/json", legacy: true},
		{api: "1.52", wantType: "application/json"},
		{api: "1.52", accept: "application/json", wantType: "application/json"},
		{api: "1.52", prefix: "/v1.51", accept: "application/json", wantType: "application/json", legacy: true},
		{api: "1.52", prefix: "/v1.44", wantType: "application/json", legacy: true},
		{api: "1.52", accept: "*/*", wantType: "application/x-ndjson"},
		// The moby client's own Accept for its Events.
		{api: "1.52", accept: "application/jsonl, application/x-ndjson;q=0.9, application/json-seq;q=0.5", wantType: "application/x-ndjson"},
		{api: "1.52", accept: "application/json-seq", wantType: "application/json-seq", seq: true},
		{api: "1.52", prefix: "/v1.44", accept: "application/json-seq", wantType: "application/json-seq", legacy: true, seq: true},
	}
	for _, tt := range tests {
		t.Run(tt.api+tt.prefix+" "+tt.accept, func(t *testing.T) {
			s := newServer(t, fakeengine.Options{Engines: 1, Mode: mode(t, tt.api)})
			e := s.Engine(0)
			id, err := e.Create(fakeengine.CreateOptions{Name: "web", Image: "nginx:1", Cmd: []string{"sleep", "infinity"}})
			if err != nil {
				t.Fatal(err)
			}
			ctype, lines := streamLines(t, s, tt.prefix, tt.accept, 1)
			if ctype != tt.wantType {
				t.Errorf("Content-Type %q, want %q", ctype, tt.wantType)
			}
			rec := lines[0]
			if got := strings.HasPrefix(rec, "\x1e"); got != tt.seq {
				t.Errorf("record starts with RS: %v, want %v: %q", got, tt.seq, rec)
			}
			var m map[string]any
			if err := json.Unmarshal([]byte(strings.TrimPrefix(rec, "\x1e")), &m); err != nil {
				t.Fatalf("%q: %v", rec, err)
			}
			if m["Type"] != "container" || m["Action"] != "create" || m["Actor"].(map[string]any)["ID"] != id || m["timeNano"] == nil {
				t.Errorf("event: %v", m)
			}
			for k, want := range map[string]string{"status": "create", "id": id, "from": "nginx:1"} {
				if v, ok := m[k]; ok != tt.legacy || (ok && v != want) {
					t.Errorf("%s = %v (present %v), want present %v", k, v, ok, tt.legacy)
				}
			}
		})
	}
}

func TestInspectLeavesOutTheDeprecatedNetworkSettingsFromAPI152(t *testing.T) {
	deprecated := []string{"Bridge", "HairpinMode", "LinkLocalIPv6Address", "LinkLocalIPv6PrefixLen", "SecondaryIPAddresses",
		"SecondaryIPv6Addresses", "EndpointID", "Gateway", "GlobalIPv6Address", "GlobalIPv6PrefixLen", "IPAddress",
		"IPPrefixLen", "IPv6Gateway", "MacAddress"}
	tests := []struct {
		api, prefix string
		legacy      bool
	}{
		{api: "1.41", legacy: true},
		{api: "1.51", legacy: true},
		{api: "1.52", prefix: "/v1.44", legacy: true},
		{api: "1.52"},
	}
	for _, tt := range tests {
		t.Run(tt.api+tt.prefix, func(t *testing.T) {
			s := newServer(t, fakeengine.Options{Engines: 1, Mode: mode(t, tt.api)})
			id, err := s.Engine(0).Create(fakeengine.CreateOptions{Name: "web", Image: "nginx:1", Cmd: []string{"sleep", "infinity"}})
			if err != nil {
				t.Fatal(err)
			}
			_, body := raw(t, s, tt.prefix+"/containers/"+id+"/json", nil)
			var v struct {
				NetworkSettings map[string]json.RawMessage
				Config          map[string]json.RawMessage
				HostConfig      map[string]json.RawMessage
			}
			if err := json.Unmarshal([]byte(body), &v); err != nil {
				t.Fatal(err)
			}
			for _, k := range deprecated {
				if _, ok := v.NetworkSettings[k]; ok != tt.legacy {
					t.Errorf("NetworkSettings.%s present %v, want %v", k, ok, tt.legacy)
				}
			}
			if _, ok := v.NetworkSettings["Networks"]; !ok {
				t.Errorf("NetworkSettings.Networks missing: %s", body)
			}
			if _, ok := v.Config["OnBuild"]; ok != tt.legacy {
				t.Errorf("Config.OnBuild present %v, want %v", ok, tt.legacy)
			}
			if _, ok := v.HostConfig["KernelMemoryTCP"]; ok != tt.legacy {
				t.Errorf("HostConfig.KernelMemoryTCP present %v, want %v", ok, tt.legacy)
			}
		})
	}
}

func TestModeForNamesTheKnownVersions(t *testing.T) {
	for _, api := range []string{"1.41", "1.44", "1.48", "1.52", "1.52+", "newest"} {
		if _, err := fakeengine.ModeFor(api); err != nil {
			t.Errorf("ModeFor(%q): %v", api, err)
		}
	}
	for _, api := range []string{"", "1.42", "1.53", "29"} {
		if _, err := fakeengine.ModeFor(api); err == nil {
			t.Errorf("ModeFor(%q) accepted", api)
		}
	}
	if m := fakeengine.NewestMode(); m.API != "1.52" || m.MinAPI != "1.44" {
		t.Errorf("newest mode %+v, want API 1.52 from 1.44", m)
	}
}
