package contract_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// TestFakeEngineAnswersInTheShapeOfARealEngine compares the JSON of the API
// answers docker-eventsd reads (list, inspect, events, ping, version, an
// error), key by key, for the same containers on a real engine and on the
// fake.
func TestFakeEngineAnswersInTheShapeOfARealEngine(t *testing.T) {
	realURL, image := realEngine(t)
	golden := filepath.Join("testdata", "shapes.txt")
	var want []string
	if realURL != "" {
		want = shapes(t, realURL, image, realAPI)
		if *update {
			writeLines(t, golden, want)
		}
	} else {
		want = readLines(t, golden)
	}
	for _, mode := range fakeModes {
		t.Run(mode.String(), func(t *testing.T) {
			want := want
			if mode.API != realAPI {
				want = newestShapes(want, mode.API)
			}
			got := shapes(t, fakeEngine(t, mode), "eventsd-busybox:latest", mode.API)
			if d := diffSets(want, got); d != "" {
				t.Errorf("JSON shapes differ (- real only, + fake only):\n%s", d)
			}
		})
	}
}

// realAPI is the API version of the test engines (Debian's dockerd 20.10),
// which testdata/ was recorded with.
const realAPI = "1.41"

// newestShapes turns the shapes of the real engine (API 1.41) into those a
// Docker 29 engine gives at its own API version, as moby's
// api/docs/CHANGELOG.md says: from 1.52 on, events leave out the deprecated
// status, id and from; inspect's NetworkSettings leaves out its deprecated
// top-level endpoint fields, an empty Config.OnBuild and
// HostConfig.KernelMemoryTCP; and /_ping reports the engine's API version.
func newestShapes(real []string, api string) []string {
	deprecated := map[string]bool{"Bridge": true, "HairpinMode": true, "LinkLocalIPv6Address": true,
		"LinkLocalIPv6PrefixLen": true, "SecondaryIPAddresses": true, "SecondaryIPv6Addresses": true, "EndpointID": true,
		"Gateway": true, "GlobalIPv6Address": true, "GlobalIPv6PrefixLen": true, "IPAddress": true, "IPPrefixLen": true,
		"IPv6Gateway": true, "MacAddress": true}
	var out []string
	for _, line := range real {
		what, path, _ := strings.Cut(line, " ")
		field := strings.Fields(path)[0]
		switch {
		case strings.HasPrefix(what, "event[") && (field == "/status" || field == "/id" || field == "/from"):
			continue
		case strings.HasPrefix(what, "inspect[") && strings.HasPrefix(field, "/NetworkSettings/") &&
			deprecated[strings.Split(field, "/")[2]]:
			continue
		case strings.HasPrefix(what, "inspect[") && (field == "/Config/OnBuild" || field == "/HostConfig/KernelMemoryTCP"):
			continue
		case strings.HasPrefix(line, "GET /_ping Api-Version="):
			line = strings.Replace(line, "Api-Version="+realAPI, "Api-Version="+api, 1)
		}
		out = append(out, line)
	}
	return out
}

// shapes makes three containers (running with a health check and labels,
// created, exited) and returns the key paths of every answer, asked for at
// API version api.
func shapes(t *testing.T, url, image, api string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cli, err := client.New(client.WithHost(url))
	if err != nil {
		t.Fatal(err)
	}
	defer cli.Close()
	if _, err := cli.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		t.Fatal(err)
	}
	prefix := fmt.Sprintf("shape-%d-", time.Now().UnixNano()%1e9)
	names := map[string]string{}
	mk := func(role string, cmd []string, labels map[string]string, health, start bool) {
		t.Helper()
		cfg := &container.Config{Image: image, Cmd: cmd, Labels: labels}
		if health {
			cfg.Healthcheck = &container.HealthConfig{Test: []string{"CMD-SHELL", "test ! -e /sick"}, Interval: 500 * time.Millisecond, Retries: 1}
		}
		r, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{Name: prefix + role, Config: cfg,
			HostConfig: &container.HostConfig{NetworkMode: "none"}})
		if err != nil {
			t.Fatal(err)
		}
		names[role] = r.ID
		t.Cleanup(func() {
			_, _ = cli.ContainerRemove(context.Background(), r.ID, client.ContainerRemoveOptions{Force: true})
		})
		if start {
			if _, err := cli.ContainerStart(ctx, r.ID, client.ContainerStartOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	since := time.Now().Add(-time.Second)
	mk("running", trap, map[string]string{"lb": "web"}, true, true)
	mk("created", trap, nil, false, false)
	mk("exited", []string{"sh", "-c", "exit 3"}, nil, false, true)
	// Wait for the health check to pass once: inspect then shows its log.
	deadline := time.Now().Add(30 * time.Second)
	for {
		r, err := cli.ContainerInspect(ctx, names["running"], client.ContainerInspectOptions{})
		if err == nil && r.Container.State.Health != nil && r.Container.State.Health.Status == "healthy" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the container did not become healthy")
		}
		time.Sleep(50 * time.Millisecond)
	}
	if _, err := cli.ContainerKill(ctx, names["running"], client.ContainerKillOptions{Signal: "USR1"}); err != nil {
		t.Fatal(err)
	}
	until := time.Now().Add(time.Second)
	time.Sleep(1100 * time.Millisecond)

	base := "http://" + strings.TrimPrefix(url, "tcp://")
	var out []string
	get := func(method, path string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequestWithContext(ctx, method, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		return resp, b
	}
	add := func(what string, b []byte) {
		t.Helper()
		var v any
		if err := json.Unmarshal(b, &v); err != nil {
			t.Fatalf("%s: %v: %s", what, err, b)
		}
		for _, p := range keyPaths(v, "") {
			if strings.HasPrefix(p, "/ExecIDs") {
				// A real engine lists a health check's exec while it runs:
				// null or a list, by chance.
				p = "/ExecIDs null or [] of string"
			}
			out = append(out, what+" "+p)
		}
	}
	for _, m := range []string{http.MethodHead, http.MethodGet} {
		resp, body := get(m, "/_ping")
		out = append(out, fmt.Sprintf("%s /_ping status=%d body=%q", m, resp.StatusCode, body))
		for _, h := range headerNames(resp.Header) {
			out = append(out, fmt.Sprintf("%s /_ping header %s", m, h))
		}
		if m == http.MethodGet {
			out = append(out, "GET /_ping Api-Version="+resp.Header.Get("Api-Version")+" Content-Type="+resp.Header.Get("Content-Type"))
		}
	}
	_, b := get(http.MethodGet, "/v"+api+"/version")
	add("version", b)
	// The list: one item per state.
	var items []map[string]any
	_, b = get(http.MethodGet, "/v"+api+"/containers/json?all=1")
	if err := json.Unmarshal(b, &items); err != nil {
		t.Fatal(err)
	}
	for _, it := range items {
		for role, id := range names {
			if it["Id"] == id {
				jb, _ := json.Marshal(it)
				add("list["+role+"]", jb)
				out = append(out, fmt.Sprintf("list[%s] State=%v Status~%s", role, it["State"], statusShape(it["Status"].(string))))
			}
		}
	}
	for role, id := range names {
		resp, b := get(http.MethodGet, "/v"+api+"/containers/"+id+"/json")
		out = append(out, fmt.Sprintf("inspect[%s] status=%d Content-Type=%s", role, resp.StatusCode, resp.Header.Get("Content-Type")))
		add("inspect["+role+"]", b)
	}
	resp, b := get(http.MethodGet, "/v"+api+"/containers/"+prefix+"nosuch/json")
	out = append(out, fmt.Sprintf("inspect[missing] status=%d", resp.StatusCode))
	add("inspect[missing]", b)
	resp, _ = get(http.MethodGet, "/v1.99/version")
	out = append(out, fmt.Sprintf("too new API version: status=%d", resp.StatusCode))

	// One event of each kind seen, from the ring (since and until in the past).
	q := fmt.Sprintf("/v"+api+"/events?since=%d.%09d&until=%d.%09d&filters=%s", since.Unix(), since.Nanosecond(), until.Unix(), until.Nanosecond(),
		`%7B%22type%22%3A%7B%22container%22%3Atrue%7D%7D`)
	resp, b = get(http.MethodGet, q)
	out = append(out, "events Content-Type="+resp.Header.Get("Content-Type"))
	kinds := map[string]bool{}
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var m map[string]any
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("event line %q: %v", line, err)
		}
		// The Actor's ID: API 1.52 left out the event's id.
		id, _ := m["Actor"].(map[string]any)["ID"].(string)
		if !strings.HasPrefix(id, names["running"]) && id != names["created"] && id != names["exited"] {
			continue
		}
		kind, _, _ := strings.Cut(m["Action"].(string), ":")
		if kinds[kind] {
			continue
		}
		kinds[kind] = true
		add("event["+kind+"]", []byte(line))
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// statusShape keeps the words of a Status that do not count time ("Up
// About a minute (healthy)" -> "Up <duration> (healthy)").
func statusShape(s string) string {
	for _, d := range []string{"Less than a second", "About a minute", "About an hour"} {
		s = strings.ReplaceAll(s, d, "<duration>")
	}
	f := strings.Fields(s)
	for i := 0; i < len(f); i++ {
		if _, err := strconv.Atoi(f[i]); err == nil && i+1 < len(f) && strings.HasPrefix(f[i+1], "second") {
			f[i], f[i+1] = "<duration>", ""
		}
	}
	return strings.Join(strings.Fields(strings.Join(f, " ")), " ")
}

// dynamic are objects whose keys are data, not shape.
var dynamic = []string{"/Labels", "/Attributes", "/Networks", "/Ports", "/LogConfig/Config", "/GraphDriver/Data", "/Volumes", "/DriverOpts"}

// keyPaths lists the key paths of a JSON value with the type of each leaf.
func keyPaths(v any, prefix string) []string {
	var out []string
	switch x := v.(type) {
	case map[string]any:
		isDyn := false
		for _, d := range dynamic {
			if strings.HasSuffix(prefix, d) {
				isDyn = true
			}
		}
		out = append(out, prefix+" {}")
		for k, e := range x {
			if isDyn {
				k = "*"
			}
			out = append(out, keyPaths(e, prefix+"/"+k)...)
		}
	case []any:
		out = append(out, prefix+" []")
		for _, e := range x {
			out = append(out, keyPaths(e, prefix+"[]")...)
		}
	case nil:
		out = append(out, prefix+" null")
	case string:
		out = append(out, prefix+" string")
	case float64:
		out = append(out, prefix+" number")
	case bool:
		out = append(out, prefix+" bool")
	}
	// Arrays and dynamic maps repeat paths.
	slices.Sort(out)
	return slices.Compact(out)
}

// headerNames returns the header names an engine always sends (not Date).
func headerNames(h http.Header) []string {
	var out []string
	for k := range h {
		if k != "Date" && k != "Server" {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// diffSets returns the lines in only one of the sorted sets.
func diffSets(want, got []string) string {
	w, g := map[string]bool{}, map[string]bool{}
	for _, s := range want {
		w[s] = true
	}
	for _, s := range got {
		g[s] = true
	}
	var b strings.Builder
	for _, s := range want {
		if !g[s] {
			fmt.Fprintf(&b, "- %s\n", s)
		}
	}
	for _, s := range got {
		if !w[s] {
			fmt.Fprintf(&b, "+ %s\n", s)
		}
	}
	return b.String()
}
