package config

import (
	"reflect"
	"testing"
	"time"
)

// haCluster is a cluster: of one engine over lines 1-2; ha: starts on line 3.
const haCluster = "cluster:\n  foo: tcp://127.0.0.1:2375\n"

func TestHASectionIsReadWithItsDefaults(t *testing.T) {
	tests := []struct {
		name string
		src  string
		env  map[string]string
		want HA
	}{
		{
			name: "as the issue spells it",
			src: "ha:\n  etcd: {endpoints: [http://127.0.0.1:2379], prefix: /eventsd/ha/}\n" +
				"  ttl: 5s\n  mode: leader\n  id: ${HOSTNAME}\n",
			env: map[string]string{"HOSTNAME": "node-1"},
			want: HA{Etcd: HAEtcd{Endpoints: []string{"http://127.0.0.1:2379"}, Prefix: "/eventsd/ha/"},
				TTL: 5 * time.Second, Mode: HAModeLeader, ID: "node-1", Pos: Pos{3, 1}, IDPos: Pos{7, 7}},
		},
		{
			name: "defaults",
			src:  "ha:\n  etcd: {endpoints: ['http://a:1', 'https://b:2']}\n  id: r2\n",
			want: HA{Etcd: HAEtcd{Endpoints: []string{"http://a:1", "https://b:2"}, Prefix: DefaultHAPrefix},
				TTL: DefaultHATTL, Mode: HAModeLeader, ID: "r2", Pos: Pos{3, 1}, IDPos: Pos{5, 7}},
		},
		{
			name: "prefix gets its slash, shard mode",
			src:  "ha:\n  etcd: {endpoints: ['http://a:1'], prefix: /x}\n  mode: shard\n  ttl: 2s\n  id: r-${N}\n",
			env:  map[string]string{"N": "3"},
			want: HA{Etcd: HAEtcd{Endpoints: []string{"http://a:1"}, Prefix: "/x/"},
				TTL: 2 * time.Second, Mode: HAModeShard, ID: "r-3", Pos: Pos{3, 1}, IDPos: Pos{7, 7}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := testLoader(tt.env).Parse("events.yml", []byte(haCluster+tt.src))
			if err != nil {
				t.Fatal(err)
			}
			if cfg.HA == nil || !reflect.DeepEqual(*cfg.HA, tt.want) {
				t.Fatalf("HA = %+v\nwant %+v", cfg.HA, tt.want)
			}
		})
	}
}

func TestHASectionLeftOutRunsOneDaemon(t *testing.T) {
	if cfg := mustParse(t, haCluster); cfg.HA != nil {
		t.Fatalf("HA = %+v, want nil", cfg.HA)
	}
}

func TestHAIDOfHOSTNAMEFallsBackToTheHostName(t *testing.T) {
	cfg, err := testLoader(nil).Parse("events.yml", []byte(haCluster+"ha:\n  etcd: {endpoints: ['http://a:1']}\n  id: ${HOSTNAME}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if want := hostname(func(string) (string, bool) { return "", false }); cfg.HA.ID != want || want == "" {
		t.Fatalf("ID = %q, want the host name %q", cfg.HA.ID, want)
	}
}

func TestBadHASectionsAreErrorsAtTheirPositions(t *testing.T) {
	const e = "ha:\n  etcd: {endpoints: ['http://a:1']}\n"
	tests := []oneError{
		{"not a mapping", haCluster + "ha: 3\n", 3, 5, "ha", "expected a mapping"},
		{"no etcd", haCluster + "ha:\n  id: x\n", 4, 3, "ha.etcd", "is required"},
		{"unknown key", haCluster + e + "  id: x\n  leader: true\n", 6, 3, "ha.leader", "unknown"},
		{"no endpoints", haCluster + "ha:\n  etcd: {prefix: /a/}\n  id: x\n", 4, 9, "ha.etcd.endpoints", "is required"},
		{"empty endpoints", haCluster + "ha:\n  etcd: {endpoints: []}\n  id: x\n", 4, 21, "ha.etcd.endpoints", "at least one"},
		{"bad scheme", haCluster + "ha:\n  etcd: {endpoints: ['unix:///x']}\n  id: x\n", 4, 22, "ha.etcd.endpoints[0]", "want http://host:port"},
		{"no port", haCluster + "ha:\n  etcd: {endpoints: ['http://a']}\n  id: x\n", 4, 22, "ha.etcd.endpoints[0]", "a host and a port"},
		{"tls over http", haCluster + "ha:\n  etcd:\n    endpoints: ['http://a:1']\n    tls: {ca: /ca.pem}\n  id: x\n", 6, 5, "ha.etcd.tls", "https://"},
		{"relative prefix", haCluster + "ha:\n  etcd: {endpoints: ['http://a:1'], prefix: a/}\n  id: x\n", 4, 45, "ha.etcd.prefix", `must start with "/"`},
		{"ttl fraction", haCluster + e + "  ttl: 2500ms\n  id: x\n", 5, 8, "ha.ttl", "whole seconds"},
		{"ttl short", haCluster + e + "  ttl: 1s\n  id: x\n", 5, 8, "ha.ttl", "at least 2s"},
		{"bad mode", haCluster + e + "  mode: active\n  id: x\n", 5, 9, "ha.mode", `"leader" or "shard"`},
		{"bad id", haCluster + e + "  id: 'a b'\n", 5, 7, "ha.id", "may only hold"},
		{"unset variable", haCluster + e + "  id: ${NOPE}\n", 5, 7, "ha.id", "NOPE is not set"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { checkOneError(t, tt) })
	}
}
