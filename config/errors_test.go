package config

import (
	"errors"
	"fmt"
	"strings"
	"testing"
)

func TestParseErrors(t *testing.T) {
	// Each input has exactly one problem. cluster2 takes lines 1-4, so a
	// rule's "type:" starts on line 5 at column 5.
	tests := []oneError{
		// Top level.
		{"unknown top-level field", cluster2 + "  - type: die\nrules: []\n", 6, 1, "rules", "unknown field"},
		{"top level is a list", "- cluster\n", 1, 1, "", "expected a mapping with cluster: and events:, got a list"},
		{"empty file", "", 1, 1, "cluster", "at least one engine is required"},
		{"comments only", "# nothing\n", 1, 1, "cluster", "at least one engine is required"},
		{"no cluster", "events: []\n", 1, 1, "cluster", "at least one engine is required"},
		{"empty cluster", "cluster: {}\nevents: []\n", 1, 10, "cluster", "at least one engine is required"},
		{"null cluster", "cluster:\nevents: []\n", 1, 1, "cluster", "at least one engine is required"},
		{"second document", "cluster: {a: 'unix:///s'}\n---\nevents: []\n", 2, 1, "", "second YAML document"},

		// YAML syntax.
		{"yaml syntax error", cluster2 + "  - type: health_status: healthy\n", 5, 24, "", `invalid YAML: mapping values are not allowed in this context (put quotes around a value that holds ": "`},
		{"tab indentation", "cluster:\n\tfoo: tcp://h:1\n", 2, 1, "", "indent with spaces, not tabs"},
		{"tab in later line", "cluster:\n  foo: tcp://h:1\n\tbar: tcp://h:2\n", 2, 1, "", "tab character"},
		{"unquoted star", cluster2 + "  - type: *\n", 5, 11, "", `quote it, as in type: "*"`},
		{"unclosed flow list", cluster2 + "  - type: [die\n  - type: kill\n", 5, 1, "", "did not find expected ',' or ']'"},
		{"control character", "cluster:\n  foo: tcp://h:1\x01\n", 2, 17, "", "control characters are not allowed"},
		{"invalid UTF-8", "cluster:\n  foo: \xff\n", 2, 8, "", "UTF-8"},
		{"unknown anchor", "cluster:\n  foo: *nope\n", 2, 8, "", "unknown anchor 'nope'"},

		// cluster:
		{"cluster is a string", "cluster: tcp://h:1\n", 1, 10, "cluster", `expected a mapping of engine names to URLs, got "tcp://h:1"`},
		{"duplicate engines", "cluster:\n  foo: tcp://h:1\n  foo: tcp://h:2\n", 3, 3, "cluster.foo", "duplicate key (first at line 2)"},
		{"invalid engine name", "cluster:\n  foo bar: tcp://h:1\n", 2, 3, "cluster.foo bar", "may only hold letters, digits"},
		{"engine env var clash", "cluster:\n  a-b: tcp://h:1\n  a_b: tcp://h:1\n", 3, 3, "cluster.a_b", "$ENGINE_A_B"},
		{"null engine", "cluster:\n  foo:\n", 2, 7, "cluster.foo", "expected a URL or a mapping with url:, got null"},
		{"list engine", "cluster:\n  foo: [tcp://h:1]\n", 2, 8, "cluster.foo", "expected a URL or a mapping with url:, got a list"},
		{"bad scheme", "cluster:\n  foo: ftp://h:1\n", 2, 8, "cluster.foo", `unsupported scheme "ftp"`},
		{"fd scheme", "cluster:\n  foo: fd://3\n", 2, 8, "cluster.foo", `unsupported scheme "fd"`},
		{"no scheme", "cluster:\n  foo: 127.0.0.1:2375\n", 2, 8, "cluster.foo", "has no scheme"},
		{"empty URL", "cluster:\n  foo: ''\n", 2, 8, "cluster.foo", "empty URL"},
		{"tcp without port", "cluster:\n  foo: tcp://h\n", 2, 8, "cluster.foo", "has no port, as in tcp://h:2375"},
		{"tcp bad port", "cluster:\n  foo: tcp://h:70000\n", 2, 8, "cluster.foo", `invalid port "70000"`},
		{"tcp without host", "cluster:\n  foo: tcp://:2375\n", 2, 8, "cluster.foo", "has no host"},
		{"unix without path", "cluster:\n  foo: unix://\n", 2, 8, "cluster.foo", "has no socket path"},
		{"URL with user", "cluster:\n  foo: https://me@h\n", 2, 8, "cluster.foo", "user name"},
		{"URL with query", "cluster:\n  foo: https://h?x=1\n", 2, 8, "cluster.foo", "query"},
		{"unset ${VAR}", "cluster:\n  foo: tcp://${NOPE}:1\n", 2, 8, "cluster.foo", "environment variable NOPE is not set"},
		{"unset $VAR", "cluster:\n  foo:\n    url: tcp://$NOPE:1\n", 3, 10, "cluster.foo.url", "environment variable NOPE is not set"},
		{"bad ${} reference", "cluster:\n  foo: tcp://${1x}:1\n", 2, 8, "cluster.foo", "bad variable reference ${1x}"},
		{"unterminated ${", "cluster:\n  foo: tcp://${HOST:1\n", 2, 8, "cluster.foo", "unterminated ${"},
		{"lone $", "cluster:\n  foo: tcp://h$:1\n", 2, 8, "cluster.foo", "write $$ for a literal $"},
		{"long form without url", "cluster:\n  foo:\n    labels: {a: b}\n", 3, 5, "cluster.foo.url", "is required"},
		{"engine field typo", "cluster:\n  foo:\n    url: tcp://h:1\n    tsl: {}\n", 4, 5, "cluster.foo.tsl", `unknown field (did you mean "tls"?)`},
		{"tls on unix", "cluster:\n  foo:\n    url: unix:///s\n    tls: {ca: /ca.pem}\n", 4, 5, "cluster.foo.tls", "TLS does not apply to a unix:// engine"},
		{"tls on http", "cluster:\n  foo:\n    url: http://h\n    tls: {}\n", 4, 5, "cluster.foo.tls", "not http://"},
		{"tls key without cert", "cluster:\n  foo:\n    url: tcp://h:1\n    tls:\n      ca: /ca\n      key: /key\n", 6, 7, "cluster.foo.tls", "key is set without cert"},
		{"tls cert without key", "cluster:\n  foo:\n    url: tcp://h:1\n    tls:\n      cert: /cert\n", 5, 7, "cluster.foo.tls", "cert is set without key"},
		{"tls unset var", "cluster:\n  foo:\n    url: tcp://h:1\n    tls:\n      ca: $NOPE/ca\n", 5, 11, "cluster.foo.tls.ca", "NOPE is not set"},
		{"tls empty path", "cluster:\n  foo:\n    url: tcp://h:1\n    tls:\n      ca: ${EMPTY}\n", 5, 11, "cluster.foo.tls.ca", "must not be empty"},
		{"tls verify not bool", "cluster:\n  foo:\n    url: tcp://h:1\n    tls:\n      verify: yes\n", 5, 15, "cluster.foo.tls.verify", `expected true or false, got "yes"`},
		{"tls typo", "cluster:\n  foo:\n    url: tcp://h:1\n    tls:\n      cacert: /ca\n", 5, 7, "cluster.foo.tls.cacert", "unknown field"},
		{"engine labels list", "cluster:\n  foo:\n    url: tcp://h:1\n    labels: [a]\n", 4, 13, "cluster.foo.labels", "expected a mapping of names to strings, got a list"},

		// events:
		{"mapping where list expected", cluster2 + "  type: die\n", 5, 3, "events", "expected a list of rules, got a mapping"},
		{"null rule", cluster2 + "  -\n  - type: die\n", 5, 4, "events[0]", "got null"},
		{"string rule", cluster2 + "  - die\n", 5, 5, "events[0]", `expected a rule (a mapping with type: and more), got "die"`},
		{"typo with suggestion", cluster2 + "  - type: die\n    from_contianer: web\n", 6, 5, "events[0].from_contianer", `unknown field (did you mean "from_container"?)`},
		{"unknown field", cluster2 + "  - type: die\n    when: now\n", 6, 5, "events[0].when", "unknown field; known fields: name, type,"},
		{"duplicate key in rule", cluster2 + "  - type: die\n    log: a\n    log: b\n", 7, 5, "events[0].log", "duplicate key (first at line 6)"},
		{"missing type", cluster2 + "  - log: x\n", 5, 5, "events[0].type", "is required"},
		{"empty type", cluster2 + "  - type: ''\n", 5, 11, "events[0].type", "must not be empty"},
		{"null type", cluster2 + "  - type:\n    log: x\n", 5, 10, "events[0].type", "must not be empty"},
		{"empty type list", cluster2 + "  - type: []\n", 5, 11, "events[0].type", "must not be empty"},
		{"empty type item", cluster2 + "  - type: kill, , die\n", 5, 17, "events[0].type", `empty item in "kill, , die"`},
		{"unknown type", cluster2 + "  - type: kill, dei\n", 5, 17, "events[0].type", `unknown type "dei" (did you mean "die"?); valid types: *, engine_down`},
		{"unknown type quoted", cluster2 + "  - type: 'kill,stat'\n", 5, 17, "events[0].type", `unknown type "stat" (did you mean "start"?)`},
		{"unknown type in list", cluster2 + "  - type:\n      - die\n      - restrat\n", 7, 9, "events[0].type[1]", `unknown type "restrat" (did you mean "restart"?)`},
		{"bad health status", cluster2 + "  - type: health_status:sick\n", 5, 11, "events[0].type", `unknown health status "sick"`},
		{"status on other action", cluster2 + "  - type: 'exec_start: sh'\n", 5, 12, "events[0].type", "only health_status takes a status"},
		{"list where string expected", cluster2 + "  - type: die\n    command: [echo, hi]\n", 6, 14, "events[0].command", "expected a string, got a list"},
		{"mapping where string expected", cluster2 + "  - type: die\n    log: {a: b}\n", 6, 10, "events[0].log", "expected a string, got a mapping"},
		{"type list of lists", cluster2 + "  - type: [[die]]\n", 5, 12, "events[0].type[0]", "expected a string, got a list"},
		{"type mapping", cluster2 + "  - type: {a: b, c: d}\n", 5, 11, "events[0].type", "expected a comma-separated string or a list of types, got a mapping"},
		{"empty name", cluster2 + "  - type: die\n    name: ' '\n", 6, 11, "events[0].name", "must not be empty"},
		{"duplicate rule names", cluster2 + "  - type: die\n    name: a\n  - type: kill\n    name: a\n", 8, 5, "events[1].name", `duplicate rule name "a" (first used at line 5)`},
		{"default name taken", cluster2 + "  - type: die\n    name: rule-2\n  - type: kill\n", 7, 5, "events[1].name", `this rule's default name "rule-2" is taken by the rule at line 5`},
		{"name clashes with a default", cluster2 + "  - type: die\n  - type: kill\n    name: rule-1\n", 7, 5, "events[1].name", `duplicate rule name "rule-1"`},
		{"unknown engine", cluster2 + "  - type: die\n    from_engine: baz\n", 6, 18, "events[0].from_engine", `unknown engine "baz" (did you mean "bar"?); engines: foo, bar`},
		{"glob matching no engine", cluster2 + "  - type: die\n    from_engine: prod-*\n", 6, 18, "events[0].from_engine", `"prod-*" matches no engine`},
		{"bad glob", cluster2 + "  - type: die\n    from_container: 'web\\'\n", 6, 21, "events[0].from_container", "invalid glob"},
		{"bad image glob", cluster2 + "  - type: die\n    image: 'x\\'\n", 6, 12, "events[0].image", "trailing \\"},
		{"bad duration", cluster2 + "  - type: die\n    timeout: 30\n", 6, 14, "events[0].timeout", `invalid duration "30"`},
		{"bad duration unit", cluster2 + "  - type: die\n    timeout: 3 days\n", 6, 14, "events[0].timeout", `invalid duration "3 days"`},
		{"negative timeout", cluster2 + "  - type: die\n    timeout: -1s\n", 6, 14, "events[0].timeout", "must be positive"},
		{"zero timeout", cluster2 + "  - type: die\n    timeout: 0s\n", 6, 14, "events[0].timeout", "must be positive"},
		{"bad exit_code", cluster2 + "  - type: die\n    exit_code: one\n", 6, 16, "events[0].exit_code", `expected an integer, got "one"`},
		{"exit_code float", cluster2 + "  - type: die\n    exit_code: 1.5\n", 6, 16, "events[0].exit_code", `expected an integer, got "1.5"`},
		{"exit_code out of range", cluster2 + "  - type: die\n    exit_code: [0, 256]\n", 6, 20, "events[0].exit_code[1]", "out of range 0-255"},
		{"negative exit_code", cluster2 + "  - type: die\n    exit_code: -1\n", 6, 16, "events[0].exit_code", "out of range"},
		{"empty exit_code list", cluster2 + "  - type: die\n    exit_code: []\n", 6, 16, "events[0].exit_code", "must not be empty"},
		{"exit_code mapping", cluster2 + "  - type: die\n    exit_code: {a: 1}\n", 6, 16, "events[0].exit_code", "expected an integer, got a mapping"},
		{"exit_code without die", cluster2 + "  - type: start, stop\n    exit_code: 1\n", 6, 5, "events[0].exit_code", "exit_code only applies to die"},
		{"container filter on engine events", cluster2 + "  - type: engine_down\n    image_contains: x\n", 6, 5, "events[0].image_contains", "engine_down and engine_up events have no container"},
		{"labels value list", cluster2 + "  - type: die\n    labels: {a: [b]}\n", 6, 17, "events[0].labels.a", "expected a string, got a list"},
		{"empty label key", cluster2 + "  - type: die\n    labels: {'': x}\n", 6, 14, "events[0].labels.", "key must not be empty"},
		{"invalid env key", cluster2 + "  - type: die\n    env:\n      MY-VAR: x\n", 7, 7, "events[0].env.MY-VAR", `invalid variable name "MY-VAR"`},
		{"env key starts with digit", cluster2 + "  - type: die\n    env: {1X: x}\n", 6, 11, "events[0].env.1X", "invalid variable name"},
		{"env overrides daemon var", cluster2 + "  - type: die\n    env: {EVENT_ID: x}\n", 6, 11, "events[0].env.EVENT_ID", "set by the daemon"},
		{"env overrides engine var", cluster2 + "  - type: die\n    env: {ENGINE_BAR: x}\n", 6, 11, "events[0].env.ENGINE_BAR", `URL of engine "bar"`},
		{"env list", cluster2 + "  - type: die\n    env: [A=b]\n", 6, 10, "events[0].env", "expected a mapping"},
		{"retry list", cluster2 + "  - type: die\n    retry: [3]\n", 6, 12, "events[0].retry", "expected a mapping with max_attempts"},
		{"retry typo", cluster2 + "  - type: die\n    retry: {max_attemps: 2}\n", 6, 13, "events[0].retry.max_attemps", `did you mean "max_attempts"?`},
		{"max_attempts 0", cluster2 + "  - type: die\n    retry: {max_attempts: 0}\n", 6, 27, "events[0].retry.max_attempts", "must be at least 1"},
		{"max_attempts string", cluster2 + "  - type: die\n    retry: {max_attempts: '3'}\n", 6, 27, "events[0].retry.max_attempts", "expected an integer"},
		{"bad backoff", cluster2 + "  - type: die\n    retry: {backoff: 0s}\n", 6, 22, "events[0].retry.backoff", "must be positive"},
		{"max_backoff < backoff", cluster2 + "  - type: die\n    retry:\n      backoff: 10s\n      max_backoff: 5s\n", 8, 20, "events[0].retry.max_backoff", "must not be less than backoff (10s)"},
		{"merge of a scalar", cluster2 + "  - type: die\n    <<: 3\n", 6, 9, "events[0].<<", "expected a mapping or a list of mappings to merge"},
		{"merged field unknown", "x-d: &d {bogus: 1}\n" + cluster2 + "  - type: die\n    <<: *d\n", 1, 10, "events[0].bogus", "unknown field"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkOneError(t, tt) })
	}
}

func TestParseReportsEveryError(t *testing.T) {
	src := `cluster:
  foo: npipe://h
  bar:
    url: tcp://h:1
    tls: {key: /k}
  ok: tcp://h:2
events:
  - type: dei, kill
    from_engine: nope
  - type: start
    exit_code: 1
    timeout: soon
  - type: die
    retry: {max_attempts: 0}
    env: {bad-key: x}
bogus: true
`
	_, err := testLoader(testEnv()).Parse("events.yml", []byte(src))
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("Parse = %v, want an ErrorList", err)
	}
	want := []string{
		`events.yml:2:8: cluster.foo: unsupported scheme "npipe"`,
		`events.yml:5:11: cluster.bar.tls: key is set without cert`,
		`events.yml:8:11: events[0].type: unknown type "dei"`,
		`events.yml:9:18: events[0].from_engine: unknown engine "nope"`,
		`events.yml:11:5: events[1].exit_code: exit_code only applies to die`,
		`events.yml:12:14: events[1].timeout: invalid duration "soon"`,
		`events.yml:14:27: events[2].retry.max_attempts: must be at least 1`,
		`events.yml:15:11: events[2].env.bad-key: invalid variable name`,
		`events.yml:16:1: bogus: unknown field`,
	}
	if len(list) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(list), len(want), err)
	}
	for i, w := range want {
		if !strings.HasPrefix(list[i].Error(), w) {
			t.Errorf("error %d = %q, want prefix %q", i, list[i].Error(), w)
		}
	}
	if lines := strings.Split(err.Error(), "\n"); len(lines) != len(want) {
		t.Errorf("Error() has %d lines, want %d", len(lines), len(want))
	}
}

func TestAliasBomb(t *testing.T) {
	// aliases returns n comma-separated copies of "*name".
	aliases := func(name string, n int) string {
		return strings.TrimSuffix(strings.Repeat("*"+name+", ", n), ", ")
	}
	// Merges nest: each level merges the one below ten times, so a walk
	// without a budget would expand 10^7 pairs.
	var merges strings.Builder
	merges.WriteString("x-m0: &m0 {type: die}\n")
	for i := 1; i <= 7; i++ {
		fmt.Fprintf(&merges, "x-m%d: &m%d {<<: [%s]}\n", i, i, aliases(fmt.Sprintf("m%d", i-1), 10))
	}
	merges.WriteString("cluster: {a: 'tcp://h:1'}\nevents: [*m7]\n")
	// Few nodes, many visits: 300 rules that each alias a 300-item type list.
	wide := "x-t: &t [" + strings.TrimSuffix(strings.Repeat("die, ", 300), ", ") + "]\n" +
		"x-r: &r {type: *t}\n" +
		"cluster: {a: 'tcp://h:1'}\nevents: [" + aliases("r", 300) + "]\n"

	tests := []struct{ name, src string }{{"nested merges", merges.String()}, {"wide", wide}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := testLoader(nil).Parse("events.yml", []byte(tt.src))
			var list ErrorList
			if !errors.As(err, &list) || len(list) != 1 || !strings.Contains(list[0].Msg, "too many alias expansions") {
				t.Errorf("Parse = %v, want one alias budget error", err)
			}
		})
	}
}

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		err  *Error
		want string
	}{
		{&Error{File: "events.yml", Line: 9, Col: 15, Field: "events[0].type", Msg: "unknown type"}, "events.yml:9:15: events[0].type: unknown type"},
		{&Error{File: "events.yml", Line: 1, Col: 1, Msg: "invalid YAML: x"}, "events.yml:1:1: invalid YAML: x"},
		{&Error{Line: 2, Col: 3, Field: "cluster", Msg: "m"}, "2:3: cluster: m"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	list := ErrorList{tests[0].err, tests[1].err}
	if got, want := list.Error(), tests[0].want+"\n"+tests[1].want; got != want {
		t.Errorf("ErrorList.Error() = %q, want %q", got, want)
	}
	var e *Error
	if !errors.As(error(list), &e) || e != tests[0].err {
		t.Errorf("errors.As(ErrorList, *Error) = %v", e)
	}
}
