package informer

import (
	"context"
	"slices"
	"testing"

	"github.com/moby/moby/api/types/events"

	"github.com/samalba/docker-eventsd/config"
)

func TestFiltersAskOnlyForTheKindsAndActionsRulesNeed(t *testing.T) {
	for _, tt := range []struct {
		name    string
		actions []string
		objects map[string][]string
		types   []string
		event   bool // an event term is sent
		has     []string
	}{
		{"containers only", []string{"start"}, nil, []string{"container"}, true, []string{"start", "die"}},
		{"images join", []string{}, map[string][]string{"image": {"tag", "untag"}}, []string{"container", "image"}, true, []string{"tag", "untag", "die"}},
		{"two kinds, sorted", []string{}, map[string][]string{"volume": {"create"}, "network": {"connect"}}, []string{"container", "network", "volume"}, true, []string{"create", "connect"}},
		{"a kind wanting every action drops the event term", []string{"start"}, map[string][]string{"daemon": nil}, []string{"container", "daemon"}, false, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			inf := &Informer{opts: Options{Actions: tt.actions, Objects: tt.objects}}
			f := inf.filters()
			var types []string
			for k := range f["type"] {
				types = append(types, k)
			}
			slices.Sort(types)
			if !slices.Equal(types, tt.types) {
				t.Errorf("type = %v, want %v", types, tt.types)
			}
			if got := len(f["event"]) > 0; got != tt.event {
				t.Fatalf("event term sent = %v, want %v (%v)", got, tt.event, f["event"])
			}
			for _, a := range tt.has {
				if !f["event"][a] {
					t.Errorf("event term lacks %q: %v", a, f["event"])
				}
			}
			if tt.event && f["event"]["reload"] {
				t.Errorf("event term asks for reload, which no rule wants")
			}
		})
	}
}

func TestObjectsForKeepsEachKindsActions(t *testing.T) {
	rules := []config.Rule{
		{Types: []string{"die"}},
		{Objects: []string{"image"}, Types: []string{"tag", "delete"}},
		{Objects: []string{"network", "volume"}, Types: []string{"create", "connect"}},
		{Objects: []string{"daemon"}, Types: []string{"*"}},
		{Objects: []string{"plugin"}, Types: []string{"engine_down"}},
	}
	got := ObjectsFor(rules)
	want := map[string][]string{"image": {"tag", "delete"}, "network": {"create", "connect"}, "volume": {"create"}, "daemon": nil}
	if len(got) != len(want) {
		t.Fatalf("ObjectsFor = %v, want %v", got, want)
	}
	for k, v := range want {
		g, ok := got[k]
		if !ok || !slices.Equal(g, v) || (v == nil) != (g == nil) {
			t.Errorf("%s: %v, want %v", k, g, v)
		}
	}
	if ct := ContainerTypesFor(rules); !slices.Equal(ct, []string{"die"}) {
		t.Errorf("ContainerTypesFor = %v, want [die]", ct)
	}
}

func TestObjectEventsLeaveTheCacheAlone(t *testing.T) {
	var got []*Event
	inf := New(Options{Name: "a", Handler: HandlerFunc(func(ev *Event) { got = append(got, ev) }),
		Objects: map[string][]string{"network": {"connect"}}})
	inf.cache.set(&Container{ID: "c1", Name: "web1", State: StateRunning})
	m := events.Message{Type: "network", Action: "connect", TimeNano: 10,
		Actor: events.Actor{ID: "n1", Attributes: map[string]string{"container": "c1", "name": "front"}}}
	inf.apply(context.Background(), &m, nil)
	inf.apply(context.Background(), &m, nil) // replayed
	img := events.Message{Type: "image", Action: "tag", TimeNano: 11, Actor: events.Actor{ID: "c1"}}
	inf.apply(context.Background(), &img, nil) // no rule about images
	if len(got) != 1 {
		t.Fatalf("handed on %d events, want the connect once", len(got))
	}
	if ev := got[0]; ev.Type != "network" || ev.ActorID != "n1" || ev.Container == nil || ev.Container.Name != "web1" {
		t.Errorf("event = %+v", ev)
	}
	if ids := inf.cache.ids(); len(ids) != 1 || inf.cache.Get("c1").State != StateRunning {
		t.Errorf("cache changed: %v", ids)
	}
}
