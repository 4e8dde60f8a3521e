package config

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestDiscoveryListIsParsedAsTheIssueWritesIt(t *testing.T) {
	cfg, err := testLoader(testEnv()).Parse("/etc/eventsd/events.yml", []byte(`cluster:
  a: tcp://127.0.0.1:2375
discovery:
  - file: engines.yml
  - etcd: {endpoints: [http://127.0.0.1:2379], prefix: /eventsd/engines/}
  - redis: {url: redis://127.0.0.1:6379/0, key: eventsd:engines}
  - dns: {srv: _docker._tcp.example.internal, interval: 10s, resolver: 127.0.0.1:5353}
  - dns: {srv: _docker._tcp.example.internal}
events:
  - type: engine_added
    from_engine: web-9
`))
	if err != nil {
		t.Fatal(err)
	}
	want := []Discovery{
		{Kind: DiscoveryFile, File: "/etc/eventsd/engines.yml", Pos: Pos{4, 5}},
		{Kind: DiscoveryEtcd, Etcd: EtcdDiscovery{Endpoints: []string{"http://127.0.0.1:2379"}, Prefix: "/eventsd/engines/"}, Pos: Pos{5, 5}},
		{Kind: DiscoveryRedis, Redis: RedisDiscovery{URL: "redis://127.0.0.1:6379/0", Key: "eventsd:engines"}, Pos: Pos{6, 5}},
		{Kind: DiscoveryDNS, DNS: DNSDiscovery{SRV: "_docker._tcp.example.internal", Interval: 10 * time.Second, Resolver: "127.0.0.1:5353"}, Pos: Pos{7, 5}},
		{Kind: DiscoveryDNS, DNS: DNSDiscovery{SRV: "_docker._tcp.example.internal", Interval: DefaultDNSInterval}, Pos: Pos{8, 5}},
	}
	if !reflect.DeepEqual(cfg.Discovery, want) {
		t.Errorf("Discovery =\n%+v\nwant\n%+v", cfg.Discovery, want)
	}
	if cfg.Rules[0].FromEngine != "web-9" {
		t.Errorf("from_engine of a discovered engine: %q", cfg.Rules[0].FromEngine)
	}
}

func TestDiscoveryLetsClusterBeLeftOut(t *testing.T) {
	cfg := mustParse(t, "discovery:\n  - dns: {srv: _d._tcp.x}\nevents:\n  - type: die\n")
	if len(cfg.Engines) != 0 || len(cfg.Discovery) != 1 {
		t.Fatalf("engines %v, discovery %v", cfg.Engines, cfg.Discovery)
	}
}

func TestWithoutDiscoveryFromEngineMustStillNameAClusterEngine(t *testing.T) {
	checkOneError(t, oneError{"unknown engine", cluster2 + "  - type: die\n    from_engine: nope\n", 6, 18, "events[0].from_engine", `unknown engine "nope"`})
}

func TestDiscoveryErrorsNameTheFieldAtItsPosition(t *testing.T) {
	const head = "cluster:\n  a: tcp://127.0.0.1:2375\ndiscovery:\n"
	tests := []oneError{
		{"not a list", "cluster:\n  a: tcp://127.0.0.1:2375\ndiscovery: {file: x}\n", 3, 12, "discovery", "expected a list"},
		{"unknown kind", head + "  - consul: {}\n", 4, 5, "discovery[0].consul", "unknown field"},
		{"two kinds in one entry", head + "  - file: a.yml\n    dns: {srv: _d._tcp.x}\n", 5, 5, "discovery[0].dns", "one source per entry"},
		{"etcd without prefix", head + "  - etcd: {endpoints: [http://127.0.0.1:2379]}\n", 4, 5, "discovery[0].etcd.prefix", "is required"},
		{"etcd without endpoints", head + "  - etcd: {prefix: /e/}\n", 4, 5, "discovery[0].etcd.endpoints", "is required"},
		{"etcd bad endpoint", head + "  - etcd: {endpoints: [127.0.0.1:2379], prefix: /e/}\n", 4, 24, "discovery[0].etcd.endpoints[0]", "want http://host:port"},
		{"etcd unknown key", head + "  - etcd: {endpoints: [http://h:1], prefix: /e/, user: x}\n", 4, 50, "discovery[0].etcd.user", "unknown field"},
		{"etcd tls over http", head + "  - etcd: {endpoints: [http://h:1], prefix: /e/, tls: {verify: false}}\n", 4, 50, "discovery[0].etcd.tls", "https://"},
		{"redis without key", head + "  - redis: {url: redis://127.0.0.1:6379/0}\n", 4, 5, "discovery[0].redis.key", "is required"},
		{"redis bad url", head + "  - redis: {url: http://h:1, key: k}\n", 4, 18, "discovery[0].redis.url", "want redis://"},
		{"dns bad interval", head + "  - dns: {srv: _d._tcp.x, interval: soon}\n", 4, 37, "discovery[0].dns.interval", "invalid duration"},
		{"dns bad resolver", head + "  - dns: {srv: _d._tcp.x, resolver: 127.0.0.1}\n", 4, 37, "discovery[0].dns.resolver", "host:port"},
		{"dns without srv", head + "  - dns: {interval: 1s}\n", 4, 5, "discovery[0].dns.srv", "is required"},
		{"file empty", head + "  - file: \"\"\n", 4, 11, "discovery[0].file", "must not be empty"},
		{"null entry", head + "  -\n", 4, 4, "discovery[0]", "got nothing"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkOneError(t, tt) })
	}
}

func TestEngineFileSkipsBadEntriesAndKeepsTheOthers(t *testing.T) {
	got, err := testLoader(testEnv()).ParseEngineFile("engines.yml", []byte(`web-1: tcp://10.0.0.1:2375
"bad name!": tcp://10.0.0.2:2375
web-2:
  url: https://10.0.0.3:2376
  labels: {zone: a}
web-3: ftp://nope
web-4: {url: tcp://10.0.0.4:2375, color: red}
`))
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range got.Engines {
		names = append(names, e.Name)
	}
	if strings.Join(names, ",") != "web-1,web-2" {
		t.Errorf("engines %v, want web-1,web-2", names)
	}
	if got.Engines[1].Labels["zone"] != "a" || got.Engines[1].URL != "https://10.0.0.3:2376" {
		t.Errorf("web-2 = %+v", got.Engines[1])
	}
	var where []string
	for _, e := range got.Skipped {
		where = append(where, e.Error()[:strings.Index(e.Error(), ": ")+len(e.Field)+2])
	}
	want := []string{"engines.yml:2:1: bad name!", "engines.yml:6:8: web-3", "engines.yml:7:35: web-4.color"}
	if !reflect.DeepEqual(where, want) {
		t.Errorf("skipped at %q, want %q (%v)", where, want, got.Skipped)
	}
}

func TestEngineFileThatIsNoMappingIsAnErrorNotAnEmptySet(t *testing.T) {
	for _, src := range []string{"- a\n- b\n", "a: [\n"} {
		if _, err := (Loader{}).ParseEngineFile("e.yml", []byte(src)); err == nil {
			t.Errorf("%q: no error", src)
		}
	}
	got, err := Loader{}.ParseEngineFile("e.yml", nil)
	if err != nil || len(got.Engines) != 0 {
		t.Errorf("empty file: %v, %v", got, err)
	}
}

func TestSourceEngineValues(t *testing.T) {
	tests := []struct {
		name, value string
		want        Engine
		err         string
	}{
		{"a", "tcp://127.0.0.1:2375", Engine{Name: "a", URL: "tcp://127.0.0.1:2375"}, ""},
		{"a", "  tcp://127.0.0.1:2375\n", Engine{Name: "a", URL: "tcp://127.0.0.1:2375"}, ""},
		{"b", `{"url":"https://h:2376","tls":{"ca":"/ca.pem","verify":false},"labels":{"zone":"z"}}`,
			Engine{Name: "b", URL: "https://h:2376", TLS: &TLS{CA: "/ca.pem", CAPos: Pos{1, 37}}, Labels: map[string]string{"zone": "z"}}, ""},
		{"c", "${HOME}", Engine{}, "HOME"},
		{"d", `{"labels":{}}`, Engine{}, "d.url: is required"},
		{"e", `{"url":"tcp://h:1","x":1}`, Engine{}, "unknown field"},
		{"f", "", Engine{}, "empty value"},
		{"bad/name", "tcp://h:1", Engine{}, "engine name may only hold"},
		{"g", "{", Engine{}, "etcd k"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSourceEngine("etcd k", tt.name, []byte(tt.value))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("err %v, want one with %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %+v (tls %+v), want %+v", got, got.TLS, tt.want)
			}
		})
	}
	_, err := ParseSourceEngine("etcd /p/x", "x", []byte("ftp://x"))
	var list ErrorList
	if !errors.As(err, &list) || list[0].File != "etcd /p/x" || list[0].Field != "x" {
		t.Errorf("error %v does not name the source and the key", err)
	}
}
