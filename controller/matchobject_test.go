package controller

import (
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// objEvent returns an event of kind typ on engine "local".
func objEvent(typ, action, actor string, attrs map[string]string) *informer.Event {
	return &informer.Event{ID: "o1", Engine: "local", Type: typ, Action: action, ActorID: actor,
		Attributes: attrs, Time: time.Unix(1700000000, 0).UTC()}
}

func TestMatchObjectsFiltersEachKindByItsActor(t *testing.T) {
	tag := objEvent(informer.TypeImage, "tag", "sha256:ab", map[string]string{"name": "registry.example/app:v2"})
	connect := objEvent(informer.TypeNetwork, "connect", "n1", map[string]string{"name": "front", "type": "bridge", "container": "c1"})
	cached := *connect
	cached.Container = &informer.Container{ID: "c1", Name: "web1"}
	vol := objEvent(informer.TypeVolume, "create", "data", map[string]string{"driver": "local"})
	reload := objEvent(informer.TypeDaemon, "reload", "D1", map[string]string{"name": "host"})
	img := []string{config.ObjectImage}
	net := []string{config.ObjectNetwork}
	for _, tt := range []struct {
		name string
		rule config.Rule
		ev   *informer.Event
		want bool
	}{
		{"a rule without object ignores image events", config.Rule{Types: []string{"*"}}, tag, false},
		{"a container rule with a shared action ignores networks", config.Rule{Types: []string{"create"}}, objEvent(informer.TypeNetwork, "create", "n1", nil), false},
		{"image tag", config.Rule{Objects: img, Types: []string{"tag"}}, tag, true},
		{"image other action", config.Rule{Objects: img, Types: []string{"untag"}}, tag, false},
		{"star of images", config.Rule{Objects: img, Types: []string{"*"}}, tag, true},
		{"star of images ignores containers", config.Rule{Objects: img, Types: []string{"*"}}, ctrEvent("start"), false},
		{"star of images keeps engine events", config.Rule{Objects: img, Types: []string{"*"}}, engineEvent("local", informer.ActionEngineDown), true},
		{"image glob on the reference", config.Rule{Objects: img, Types: []string{"tag"}, Selector: config.Selector{Image: "registry.example/app:*"}}, tag, true},
		{"image glob misses", config.Rule{Objects: img, Types: []string{"tag"}, Selector: config.Selector{Image: "nginx*"}}, tag, false},
		{"image_contains", config.Rule{Objects: img, Types: []string{"tag"}, Selector: config.Selector{ImageContains: "app:v"}}, tag, true},
		{"from_container by ID on a connect", config.Rule{Objects: net, Types: []string{"connect"}, Selector: config.Selector{FromContainer: "c1"}}, connect, true},
		{"from_container by cached name", config.Rule{Objects: net, Types: []string{"connect"}, Selector: config.Selector{FromContainer: "web*"}}, &cached, true},
		{"from_container by name unknown", config.Rule{Objects: net, Types: []string{"connect"}, Selector: config.Selector{FromContainer: "web*"}}, connect, false},
		{"from_container on a volume create", config.Rule{Objects: []string{config.ObjectVolume}, Types: []string{"create"}, Selector: config.Selector{FromContainer: "*"}}, vol, false},
		{"labels on attributes", config.Rule{Objects: net, Types: []string{"connect"}, Selector: config.Selector{Labels: map[string]string{"type": "bridge"}}}, connect, true},
		{"labels miss", config.Rule{Objects: net, Types: []string{"connect"}, Selector: config.Selector{Labels: map[string]string{"type": "overlay"}}}, connect, false},
		{"image filter on a network", config.Rule{Objects: net, Types: []string{"connect"}, Selector: config.Selector{Image: "*"}}, connect, false},
		{"daemon reload", config.Rule{Objects: []string{config.ObjectDaemon}, Types: []string{"reload"}}, reload, true},
		{"two kinds", config.Rule{Objects: []string{config.ObjectDaemon, config.ObjectImage}, Types: []string{"reload", "tag"}}, tag, true},
		{"from_engine", config.Rule{Objects: img, Types: []string{"tag"}, Selector: config.Selector{FromEngine: "other"}}, tag, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			m := compileMatcher(&tt.rule)
			if got := m.match(tt.ev); got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestEventEnvOfANetworkConnectNamesItsContainer(t *testing.T) {
	ev := objEvent(informer.TypeNetwork, "connect", "n1", map[string]string{"name": "front", "container": "c1"})
	ev.Container = &informer.Container{ID: "c1", Name: "web1", Image: "nginx"}
	env := strings.Join(eventEnv(nil, "r", ev, "unix:///s", 1), "\n") + "\n"
	for _, want := range []string{"EVENT_OBJECT=network\n", "EVENT_TYPE=network\n", "EVENT_ACTION=connect\n", "EVENT_ACTOR_ID=n1\n", "EVENT_ACTOR_NAME=front\n", "FROM_CONTAINER=web1\n", "CONTAINER_ID=c1\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("env lacks %q:\n%s", want, env)
		}
	}
	tag := objEvent(informer.TypeImage, "tag", "sha256:ab", map[string]string{"name": "app:v2"})
	env = strings.Join(eventEnv(nil, "r", tag, "unix:///s", 1), "\n") + "\n"
	for _, want := range []string{"EVENT_OBJECT=image\n", "EVENT_TYPE=image\n", "EVENT_ACTOR_NAME=app:v2\n", "FROM_CONTAINER=\n", "CONTAINER_ID=\n"} {
		if !strings.Contains(env, want) {
			t.Errorf("image env lacks %q:\n%s", want, env)
		}
	}
	if k, k2 := containerID(tag), containerID(objEvent(informer.TypeVolume, "create", "sha256:ab", nil)); k == k2 {
		t.Errorf("an image and a volume with the same actor ID share the key %q", k)
	}
}
