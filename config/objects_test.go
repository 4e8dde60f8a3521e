package config

import (
	"slices"
	"testing"
)

func TestParseObjectErrors(t *testing.T) {
	// cluster2 takes lines 1-4: a rule's first key starts on line 5, column 5.
	for _, tt := range []oneError{
		{"unknown object", cluster2 + "  - object: imgae\n    type: tag\n", 5, 13, "events[0].object", `unknown object "imgae" (did you mean "image"?)`},
		{"unknown object in a list", cluster2 + "  - object: [image, netwrk]\n    type: create\n", 5, 21, "events[0].object[1]", `unknown object "netwrk"`},
		{"unknown object in a comma list", cluster2 + "  - object: image, voulme\n    type: create\n", 5, 20, "events[0].object", `unknown object "voulme"`},
		{"empty object", cluster2 + "  - object: ''\n    type: tag\n", 5, 13, "events[0].object", "must not be empty"},
		{"object is a mapping", cluster2 + "  - object: {image: 1}\n    type: tag\n", 5, 13, "events[0].object", "expected a kind"},
		{"container action on images", cluster2 + "  - object: image\n    type: die\n", 6, 11, "events[0].type", `"die" is not an action of image events (it is one of container events)`},
		{"image action on containers", cluster2 + "  - type: start, tag\n", 5, 18, "events[0].type", `"tag" is not an action of container events (it is one of image events): add image to object`},
		{"network action in a list, object after type", cluster2 + "  - type: [create, mount]\n    object: network\n", 5, 20, "events[0].type[1]", `"mount" is not an action of network events (it is one of volume events)`},
		{"unknown action of a kind", cluster2 + "  - object: volume\n    type: mountt\n", 6, 11, "events[0].type", `unknown type "mountt" for volume events (did you mean "mount"?)`},
		{"health status on networks", cluster2 + "  - object: network\n    type: health_status:healthy\n", 6, 11, "events[0].type", "only the health_status of containers"},
		{"daemon has only reload", cluster2 + "  - object: daemon\n    type: reload, start\n", 6, 19, "events[0].type", `"start" is not an action of daemon events`},
		{"from_container on images", cluster2 + "  - object: image\n    type: tag\n    from_container: web\n", 7, 5, "events[0].from_container", "never matches: image events name no container"},
		{"image on networks", cluster2 + "  - object: network\n    type: connect\n    image: busybox\n", 7, 5, "events[0].image", "never matches: network events name no image"},
		{"image_contains on volumes", cluster2 + "  - object: volume\n    type: '*'\n    image_contains: busy\n", 7, 5, "events[0].image_contains", "never matches: volume events name no image"},
		{"exit_code on images", cluster2 + "  - object: image\n    type: '*'\n    exit_code: 1\n", 7, 5, "events[0].exit_code", "add container to object"},
	} {
		t.Run(tt.name, func(t *testing.T) { checkOneError(t, tt) })
	}
}

func TestParseObjectsKeepsTypesAndReadsKinds(t *testing.T) {
	for _, tt := range []struct {
		name    string
		rule    string
		objects []string
		types   []string
	}{
		{"no object is containers", "  - type: die\n", nil, []string{"die"}},
		{"one kind", "  - object: image\n    type: tag, untag, delete\n", []string{"image"}, []string{"tag", "untag", "delete"}},
		{"upper case and repeats", "  - object: Network, network\n    type: CONNECT\n", []string{"network"}, []string{"connect"}},
		{"a list of kinds, an action of either", "  - object: [network, volume]\n    type: [connect, mount, create]\n", []string{"network", "volume"}, []string{"connect", "mount", "create"}},
		{"containers and images", "  - object: container, image\n    type: start, tag, health_status:healthy\n", []string{"container", "image"}, []string{"start", "tag", "health_status:healthy"}},
		{"star and engine events go with any kind", "  - object: daemon\n    type: '*, engine_down, tcp_disconnect'\n", []string{"daemon"}, []string{"*", "engine_down"}},
		{"plugins", "  - object: plugin\n    type: install, enable, disable, remove\n", []string{"plugin"}, []string{"install", "enable", "disable", "remove"}},
		{"labels on any kind, from_container on networks", "  - object: network\n    type: connect\n    from_container: web*\n    labels: {com.example: x}\n", []string{"network"}, []string{"connect"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg := mustParse(t, cluster2+tt.rule)
			r := cfg.Rules[0]
			if !slices.Equal(r.Objects, tt.objects) || !slices.Equal(r.Types, tt.types) {
				t.Errorf("objects %q types %q, want %q %q", r.Objects, r.Types, tt.objects, tt.types)
			}
			want := tt.objects
			if want == nil {
				want = []string{ObjectContainer}
			}
			if !slices.Equal(r.RuleObjects(), want) {
				t.Errorf("RuleObjects() = %q, want %q", r.RuleObjects(), want)
			}
		})
	}
}

func TestObjectActionsAreKnownForEveryKind(t *testing.T) {
	for _, o := range Objects() {
		if len(ObjectActions(o)) == 0 {
			t.Errorf("kind %s has no actions", o)
		}
	}
	if ObjectActions("service") != nil {
		t.Errorf("an unknown kind has actions")
	}
}
