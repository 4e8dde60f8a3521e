package controller

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// refGlob is the reference for config.Match, written from its documentation
// as plain backtracking over every way to split s: * matches any run of
// characters (/ included), ? exactly one character, \ makes the next character
// literal (a trailing \ is a literal \), anything else matches itself, and the
// empty pattern matches everything. A character of s is a UTF-8 sequence, or
// one byte where s is not valid UTF-8.
func refGlob(pattern, s string) bool {
	if pattern == "" {
		return true
	}
	// memo[pi*(len(s)+1)+si]: 0 unknown, 1 no, 2 yes.
	memo := make([]byte, (len(pattern)+1)*(len(s)+1))
	var at func(pi, si int) bool
	at = func(pi, si int) bool {
		k := pi*(len(s)+1) + si
		if memo[k] != 0 {
			return memo[k] == 2
		}
		var ok bool
		switch {
		case pi == len(pattern):
			ok = si == len(s)
		case pattern[pi] == '*':
			ok = at(pi+1, si)
			if !ok && si < len(s) {
				_, w := utf8.DecodeRuneInString(s[si:])
				ok = at(pi, si+w)
			}
		case pattern[pi] == '?':
			if si < len(s) {
				_, w := utf8.DecodeRuneInString(s[si:])
				ok = at(pi+1, si+w)
			}
		case pattern[pi] == '\\':
			lit, n := byte('\\'), 1
			if pi+1 < len(pattern) {
				lit, n = pattern[pi+1], 2
			}
			ok = si < len(s) && s[si] == lit && at(pi+n, si+1)
		default:
			ok = si < len(s) && s[si] == pattern[pi] && at(pi+1, si+1)
		}
		memo[k] = 1
		if ok {
			memo[k] = 2
		}
		return ok
	}
	return at(0, 0)
}

// refMatch is the reference for a rule's matcher, written from the rule's
// documentation (docs/CONFIG.md) rather than from compileMatcher: every set
// filter must match, an unset one matches everything, and a container filter
// never matches an event without a container.
func refMatch(r *config.Rule, ev *informer.Event) bool {
	evKind, evStatus := ev.Action, ""
	if i := strings.IndexByte(ev.Action, ':'); i >= 0 {
		evKind, evStatus = ev.Action[:i], strings.TrimSpace(ev.Action[i+1:])
	}
	typeOK := len(r.Types) == 0
	for _, t := range r.Types {
		t = strings.ToLower(strings.TrimSpace(t))
		switch t {
		case "*":
			typeOK = true
		case "engine_down", "tcp_disconnect":
			typeOK = typeOK || (ev.Type == informer.TypeEngine && ev.Action == "engine_down")
		case "engine_up":
			typeOK = typeOK || (ev.Type == informer.TypeEngine && ev.Action == "engine_up")
		default:
			kind, status, _ := strings.Cut(t, ":")
			kind, status = strings.TrimSpace(kind), strings.TrimSpace(status)
			if ev.Type == informer.TypeContainer && kind == evKind && (status == "" || status == evStatus) {
				typeOK = true
			}
		}
	}
	if !typeOK || !refGlob(r.FromEngine, ev.Engine) {
		return false
	}
	if r.FromContainer == "" && r.Image == "" && r.ImageContains == "" && len(r.Labels) == 0 && len(r.ExitCodes) == 0 {
		return true
	}
	c := ev.Container
	if c == nil {
		return false
	}
	if !refGlob(r.FromContainer, c.Name) || !refGlob(r.Image, c.Image) || !strings.Contains(c.Image, r.ImageContains) {
		return false
	}
	for k, v := range r.Labels {
		got, ok := c.Labels[k]
		if !ok || (v != "" && got != v) {
			return false
		}
	}
	if len(r.ExitCodes) > 0 && evKind == "die" && !slices.Contains(r.ExitCodes, c.ExitCode) {
		return false
	}
	return true
}

// pairs decodes "k=v;k2=v2" into a map (nil when s is empty).
func pairs(s string) map[string]string {
	if s == "" {
		return nil
	}
	m := map[string]string{}
	for _, kv := range strings.Split(s, ";") {
		k, v, _ := strings.Cut(kv, "=")
		m[k] = v
	}
	return m
}

// FuzzMatch matches arbitrary events against arbitrary rules: matching must
// never panic and must agree with refMatch; the globs must agree with
// refGlob; and the handler's environment and stdin built for the event must
// be well formed.
func FuzzMatch(f *testing.F) {
	type seed struct {
		engine      string
		evType      uint8
		action      string
		hasCtr      bool
		name, image string
		labels      string
		exitCode    int
		attrExit    string
		types       string
		fromEngine  string
		fromCtr     string
		imagePat    string
		imageSub    string
		ruleLabels  string
		exitCodes   string
	}
	for _, s := range []seed{
		{"local", 0, "start", true, "web1", "registry.example/nginx:1.27", "lb=web;tier=", 0, "", "start,restart", "lo*", "web?", "*/nginx:*", "nginx", "lb=web;tier=", ""},
		{"prod-1", 0, "die", true, "db", "mysql:8", "", 137, "137", "die", "prod-*", "", "", "", "", "1,137"},
		{"prod-1", 0, "health_status: unhealthy", true, "db", "mysql:8", "", 0, "", " Health_Status : unhealthy", "", "", "", "", "", ""},
		{"b", 1, "engine_down", false, "", "", "", 0, "", "tcp_disconnect,engine_up", "?", "", "", "", "", ""},
		{"b", 1, "engine_up", false, "", "", "", 0, "", "*", "", "*", "", "", "", ""},
		{"b", 2, "connect", true, "x", "y", "", 0, "", "connect", "", "", "", "", "", ""},
		{"e", 0, "exec_start: sh -c true", true, "a\\b", "i*m?g", "k=", 2, "x", "exec_start", "\\e", "a\\\\b", "i\\*m\\?g", "*", "k=", "2"},
		{"é", 0, "die", false, "ü", "", "", 1, "1", "die", "?", "", "", "", "", "1"},
		{"\xc3", 0, "kill", true, "\xc3\x80", "\xff", "", 0, "", "kill,", "*\x80", "*", "?", "\xff", "", ""},
		{"local", 0, "start", true, "web1", "nginx", "", 0, "", "engine_down", "", "", "", "", "", ""},
		{"local", 0, "die", false, "", "", "", 0, "", "die", "", "", "", "", "", ""},
	} {
		f.Add(s.engine, s.evType, s.action, s.hasCtr, s.name, s.image, s.labels, s.exitCode, s.attrExit,
			s.types, s.fromEngine, s.fromCtr, s.imagePat, s.imageSub, s.ruleLabels, s.exitCodes)
	}
	f.Fuzz(func(t *testing.T, engine string, evType uint8, action string, hasCtr bool, name, image, labels string,
		exitCode int, attrExit, types, fromEngine, fromCtr, imagePat, imageSub, ruleLabels, exitCodes string) {
		ev := &informer.Event{
			ID: "ev", Engine: engine, Action: action, ActorID: "c1",
			Attributes: map[string]string{}, Time: time.Unix(1700000000, 0),
		}
		for k, v := range map[string]string{"name": name, "image": image, "exitCode": attrExit} {
			if v != "" {
				ev.Attributes[k] = v
			}
		}
		switch evType % 3 {
		case 0:
			ev.Type = informer.TypeContainer
		case 1:
			ev.Type, ev.ActorID, ev.Attributes, ev.Synthetic = informer.TypeEngine, "", nil, true
		default:
			ev.Type = "network"
		}
		if hasCtr {
			l := pairs(labels)
			if l == nil {
				l = map[string]string{}
			}
			ev.Container = &informer.Container{ID: "c1", Engine: engine, Name: name, Image: image, Labels: l,
				State: informer.StateRunning, ExitCode: exitCode}
		}
		r := config.Rule{
			Selector: config.Selector{FromEngine: fromEngine, FromContainer: fromCtr, Image: imagePat, ImageContains: imageSub, Labels: pairs(ruleLabels)},
		}
		if types != "" {
			r.Types = strings.Split(types, ",")
		}
		if exitCodes != "" {
			for _, s := range strings.Split(exitCodes, ",") {
				n, err := strconv.Atoi(s)
				if err != nil {
					return
				}
				r.ExitCodes = append(r.ExitCodes, n)
			}
		}

		for _, g := range [][2]string{{fromEngine, engine}, {fromCtr, name}, {imagePat, image}} {
			if got, want := config.Match(g[0], g[1]), refGlob(g[0], g[1]); got != want {
				t.Fatalf("config.Match(%q, %q) = %v, reference says %v", g[0], g[1], got, want)
			}
		}
		m := compileMatcher(&r)
		if got, want := m.match(ev), refMatch(&r, ev); got != want {
			t.Fatalf("match = %v, reference says %v\nrule  %+v\nevent %+v\ncontainer %+v", got, want, r, ev, ev.Container)
		}

		// What a handler of this event would get.
		env := eventEnv([]string{"PATH=/bin"}, "rule", ev, "tcp://h:1", 1)
		vars := map[string]string{}
		for _, kv := range env {
			k, v, ok := strings.Cut(kv, "=")
			if !ok || k == "" {
				t.Fatalf("malformed environment entry %q", kv)
			}
			vars[k] = v
		}
		if vars[envEventType] != wantObject(ev) || vars[envEventObject] != wantObject(ev) || vars[envEventAction] != ev.Action || vars[envFromEngine] != ev.Engine {
			t.Fatalf("environment %q does not describe the event %+v", env, ev)
		}
		if _, ok := vars[envContainerExitCode]; ok != (ev.Type != informer.TypeEngine && ev.Kind() == "die" && (hasCtr || isInt(attrExit))) {
			t.Fatalf("CONTAINER_EXIT_CODE set=%v for %+v", ok, ev)
		}
		in, err := stdinJSON("rule", ev, &config.Engine{Name: engine, URL: "tcp://h:1"})
		if err != nil || !json.Valid(in) {
			t.Fatalf("stdin %q is not JSON: %v", in, err)
		}
	})
}

func isInt(s string) bool {
	_, err := strconv.Atoi(s)
	return err == nil
}

// wantObject is EVENT_TYPE (and EVENT_OBJECT) as docs/CONFIG.md says: the
// event's kind of object, container for an event that names none.
func wantObject(ev *informer.Event) string {
	if ev.Type == "" {
		return informer.TypeContainer
	}
	return ev.Type
}
