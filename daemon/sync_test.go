package daemon

import (
	"reflect"
	"testing"

	"github.com/samalba/docker-eventsd/config"
)

func TestSyncEnginesKeepsUnchangedEnginesAndAddsReplacesAndRemovesTheOthers(t *testing.T) {
	t.Parallel()
	f := newFixture(t, "", "a", "b", "c")
	for _, n := range []string{"a", "b", "c"} {
		f.waitSynced(n)
	}
	a, b := f.d.Informer("a"), f.d.Informer("b")
	f.run("b2", "n1") // the engine behind b's new URL
	f.run("d", "d1")

	ch, err := f.d.SyncEngines([]config.Engine{
		{Name: "a", URL: url("a"), Pos: config.Pos{Line: 9}}, // declared elsewhere: the same engine
		{Name: "b", URL: url("b2")},
		{Name: "d", URL: url("d")},
	})
	if err != nil {
		t.Fatal(err)
	}
	want := EngineChanges{Added: []string{"d"}, Replaced: []string{"b"}, Removed: []string{"c"}, Unchanged: []string{"a"}}
	if !reflect.DeepEqual(ch, want) {
		t.Fatalf("SyncEngines = %+v, want %+v", ch, want)
	}
	if f.d.Informer("a") != a {
		t.Error("the unchanged engine a got a new informer")
	}
	if f.d.Informer("b") == b {
		t.Error("the changed engine b kept its informer")
	}
	f.waitStreams("a", 1) // not reconnected
	f.waitStreams("c", 0)
	f.waitSynced("b")
	f.waitSynced("d")
	f.waitSet("b/n1", "d/d1")

	again, err := f.d.SyncEngines([]config.Engine{{Name: "a", URL: url("a")}, {Name: "b", URL: url("b2")}, {Name: "d", URL: url("d")}})
	if err != nil || !again.Empty() {
		t.Errorf("the same set again: %+v, %v; want no change", again, err)
	}
}

func TestSameEngineComparesURLTLSAndLabels(t *testing.T) {
	tls := &config.TLS{CA: "ca.pem", Verify: true}
	base := config.Engine{Name: "a", URL: "tcp://h:2376", TLS: tls, Labels: map[string]string{"role": "db"}}
	tests := []struct {
		name string
		b    config.Engine
		same bool
	}{
		{"same, other position and TLS pointer", config.Engine{Name: "a", URL: "tcp://h:2376", TLS: &config.TLS{CA: "ca.pem", Verify: true}, Labels: map[string]string{"role": "db"}, Pos: config.Pos{Line: 3}}, true},
		{"other URL", config.Engine{Name: "a", URL: "tcp://h:2377", TLS: tls, Labels: base.Labels}, false},
		{"TLS removed", config.Engine{Name: "a", URL: "tcp://h:2376", Labels: base.Labels}, false},
		{"other CA", config.Engine{Name: "a", URL: "tcp://h:2376", TLS: &config.TLS{CA: "other.pem", Verify: true}, Labels: base.Labels}, false},
		{"other labels", config.Engine{Name: "a", URL: "tcp://h:2376", TLS: tls, Labels: map[string]string{"role": "web"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := SameEngine(base, tt.b); got != tt.same {
				t.Errorf("SameEngine = %v, want %v", got, tt.same)
			}
		})
	}
}
