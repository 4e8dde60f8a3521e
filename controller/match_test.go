package controller

import (
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// ctrEvent returns a container event on engine "local" for a container web1
// running nginx:1.27 with labels lb=web and tier="".
func ctrEvent(action string) *informer.Event {
	return &informer.Event{
		ID: "ev1", Engine: "local", Type: informer.TypeContainer, Action: action, ActorID: "c1",
		Attributes: map[string]string{"name": "web1", "image": "nginx:1.27"},
		Time:       time.Unix(1700000000, 5).UTC(),
		Container: &informer.Container{
			ID: "c1", Engine: "local", Name: "web1", Image: "registry.example/nginx:1.27",
			Labels: map[string]string{"lb": "web", "tier": ""}, State: informer.StateRunning,
		},
	}
}

// dieEvent returns a die of web1 with the exit code in the cache and attributes.
func dieEvent(code int, attr string) *informer.Event {
	ev := ctrEvent("die")
	c := *ev.Container
	c.State, c.ExitCode = informer.StateExited, code
	ev.Container = &c
	ev.Attributes = map[string]string{"name": "web1", "exitCode": attr}
	return ev
}

// engineEvent returns an engine_down or engine_up of engine name.
func engineEvent(name, action string) *informer.Event {
	return &informer.Event{ID: "e-" + action, Engine: name, Type: informer.TypeEngine, Action: action, Synthetic: true}
}

func TestMatch(t *testing.T) {
	down := engineEvent("local", informer.ActionEngineDown)
	up := engineEvent("local", informer.ActionEngineUp)
	tests := []struct {
		name string
		rule config.Rule
		ev   *informer.Event
		want bool
	}{
		{"no filter matches a container event", config.Rule{}, ctrEvent("start"), true},
		{"no filter matches an engine event", config.Rule{}, down, true},
		{"star matches container", config.Rule{Types: []string{"*"}}, ctrEvent("oom"), true},
		{"star matches engine", config.Rule{Types: []string{"*"}}, up, true},
		{"action matches", config.Rule{Types: []string{"start"}}, ctrEvent("start"), true},
		{"other action", config.Rule{Types: []string{"start"}}, ctrEvent("stop"), false},
		{"one of several", config.Rule{Types: []string{"stop", "die", "start"}}, ctrEvent("start"), true},
		{"action does not match engine event", config.Rule{Types: []string{"start"}}, down, false},
		{"action of another event type", config.Rule{Types: []string{"start"}},
			&informer.Event{Type: "network", Action: "start", Engine: "local"}, false},
		{"kind without suffix", config.Rule{Types: []string{"exec_start"}}, ctrEvent("exec_start: sh -c true"), true},
		{"health any status", config.Rule{Types: []string{"health_status"}}, ctrEvent("health_status: healthy"), true},
		{"health status", config.Rule{Types: []string{"health_status:unhealthy"}}, ctrEvent("health_status: unhealthy"), true},
		{"health other status", config.Rule{Types: []string{"health_status:unhealthy"}}, ctrEvent("health_status: healthy"), false},
		{"health status spaced and upper", config.Rule{Types: []string{" Health_Status : unhealthy"}}, ctrEvent("health_status: unhealthy"), true},
		{"engine_down", config.Rule{Types: []string{"engine_down"}}, down, true},
		{"engine_down not up", config.Rule{Types: []string{"engine_down"}}, up, false},
		{"tcp_disconnect is engine_down", config.Rule{Types: []string{"tcp_disconnect"}}, down, true},
		{"engine_up", config.Rule{Types: []string{"engine_up"}}, up, true},
		{"engine type not container", config.Rule{Types: []string{"engine_up"}}, ctrEvent("engine_up"), false},
		{"from_engine glob", config.Rule{Selector: config.Selector{FromEngine: "lo*"}}, ctrEvent("start"), true},
		{"from_engine glob miss", config.Rule{Selector: config.Selector{FromEngine: "prod-*"}}, ctrEvent("start"), false},
		{"from_engine on engine event", config.Rule{Types: []string{"engine_down"}, Selector: config.Selector{FromEngine: "local"}}, down, true},
		{"from_container glob", config.Rule{Selector: config.Selector{FromContainer: "web?"}}, ctrEvent("start"), true},
		{"from_container miss", config.Rule{Selector: config.Selector{FromContainer: "db*"}}, ctrEvent("start"), false},
		{"image glob across slash", config.Rule{Selector: config.Selector{Image: "*nginx:*"}}, ctrEvent("start"), true},
		{"image glob miss", config.Rule{Selector: config.Selector{Image: "nginx:*"}}, ctrEvent("start"), false},
		{"image_contains", config.Rule{Selector: config.Selector{ImageContains: "nginx"}}, ctrEvent("start"), true},
		{"image_contains miss", config.Rule{Selector: config.Selector{ImageContains: "redis"}}, ctrEvent("start"), false},
		{"label value", config.Rule{Selector: config.Selector{Labels: map[string]string{"lb": "web"}}}, ctrEvent("start"), true},
		{"label other value", config.Rule{Selector: config.Selector{Labels: map[string]string{"lb": "db"}}}, ctrEvent("start"), false},
		{"label key only", config.Rule{Selector: config.Selector{Labels: map[string]string{"tier": ""}}}, ctrEvent("start"), true},
		{"label missing", config.Rule{Selector: config.Selector{Labels: map[string]string{"zone": ""}}}, ctrEvent("start"), false},
		{"all labels needed", config.Rule{Selector: config.Selector{Labels: map[string]string{"lb": "web", "zone": ""}}}, ctrEvent("start"), false},
		{"exit code in list", config.Rule{Types: []string{"die"}, ExitCodes: []int{1, 137}}, dieEvent(137, "137"), true},
		{"exit code not in list", config.Rule{Types: []string{"die"}, ExitCodes: []int{1}}, dieEvent(0, "0"), false},
		{"exit code from cache first", config.Rule{ExitCodes: []int{3}}, dieEvent(3, "bogus"), true},
		{"exit code from attribute without container", config.Rule{Types: []string{"die"}, ExitCodes: []int{2}},
			&informer.Event{Type: informer.TypeContainer, Action: "die", Attributes: map[string]string{"exitCode": "2"}}, false},
		{"exit codes do not restrict other actions", config.Rule{Types: []string{"die", "oom"}, ExitCodes: []int{137}}, ctrEvent("oom"), true},
		{"container filter never matches engine event", config.Rule{Selector: config.Selector{FromContainer: "*"}}, down, false},
		{"image filter never matches engine event", config.Rule{Types: []string{"*"}, Selector: config.Selector{ImageContains: "", Image: "*"}}, up, false},
		{"labels never match engine event", config.Rule{Selector: config.Selector{Labels: map[string]string{"lb": ""}}}, down, false},
		{"exit codes never match engine event", config.Rule{ExitCodes: []int{0}}, down, false},
		{"container filter on container event without container", config.Rule{Selector: config.Selector{FromContainer: "*"}},
			&informer.Event{Type: informer.TypeContainer, Action: "start", Engine: "local"}, false},
		{"all filters", config.Rule{
			Types:    []string{"start"},
			Selector: config.Selector{FromEngine: "local", FromContainer: "web*", Image: "*nginx*", ImageContains: "1.27", Labels: map[string]string{"lb": "web"}},
		}, ctrEvent("start"), true},
		{"all filters but one", config.Rule{
			Types:    []string{"start"},
			Selector: config.Selector{FromEngine: "local", FromContainer: "web*", Image: "*nginx*", ImageContains: "1.28", Labels: map[string]string{"lb": "web"}},
		}, ctrEvent("start"), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := compileMatcher(&tt.rule)
			if got := m.match(tt.ev); got != tt.want {
				t.Errorf("match = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestStateRulesSelectTheContainersEventRulesWithTheSameSelectorMatch(t *testing.T) {
	selectors := []config.Selector{
		{},
		{FromEngine: "lo*"},
		{FromEngine: "prod-*"},
		{FromContainer: "web?"},
		{FromContainer: "db*"},
		{Image: "*nginx:*"},
		{Image: "nginx:*"},
		{ImageContains: "nginx"},
		{ImageContains: "redis"},
		{Labels: map[string]string{"lb": "web"}},
		{Labels: map[string]string{"lb": "db"}},
		{Labels: map[string]string{"tier": ""}},
		{Labels: map[string]string{"lb": "web", "zone": ""}},
		{FromEngine: "local", FromContainer: "web*", Image: "*nginx*", ImageContains: "1.27", Labels: map[string]string{"lb": "web"}},
	}
	ev := ctrEvent("start")
	matched := 0
	for _, s := range selectors {
		event := compileMatcher(&config.Rule{Selector: s})
		state := compileSelector(&config.StateRule{Selector: s})
		want := event.match(ev)
		if got := state.engine(ev.Engine) && state.match.container(ev.Container); got != want {
			t.Errorf("selector %+v: state rule selects web1: %v, event rule matches its event: %v", s, got, want)
		}
		if want {
			matched++
		}
	}
	if matched == 0 || matched == len(selectors) {
		t.Errorf("%d of %d selectors match: the table does not tell matching from not matching", matched, len(selectors))
	}
}

// benchRules is a realistic config: a few rules of each kind of filter.
var benchRules = []config.Rule{
	{Types: []string{"die"}, Selector: config.Selector{FromContainer: "web*"}, ExitCodes: []int{1, 137}},
	{Types: []string{"start", "restart"}, Selector: config.Selector{Image: "*/nginx:*", Labels: map[string]string{"lb": "web", "tier": ""}}},
	{Types: []string{"health_status:unhealthy"}, Selector: config.Selector{FromEngine: "prod-*"}},
	{Types: []string{"engine_down", "engine_up"}},
	{Types: []string{"*"}, Selector: config.Selector{ImageContains: "nginx", FromEngine: "lo*"}},
}

func TestMatchDoesNotAllocate(t *testing.T) {
	ms := make([]matcher, len(benchRules))
	for i := range benchRules {
		ms[i] = compileMatcher(&benchRules[i])
	}
	evs := []*informer.Event{ctrEvent("start"), dieEvent(137, "137"), ctrEvent("health_status: unhealthy"), engineEvent("local", "engine_down")}
	allocs := testing.AllocsPerRun(100, func() {
		for _, ev := range evs {
			for i := range ms {
				ms[i].match(ev)
			}
		}
	})
	if allocs != 0 {
		t.Errorf("match allocates %v times per run, want 0", allocs)
	}
}

func BenchmarkMatch(b *testing.B) {
	ms := make([]matcher, len(benchRules))
	for i := range benchRules {
		ms[i] = compileMatcher(&benchRules[i])
	}
	evs := []*informer.Event{ctrEvent("start"), dieEvent(137, "137"), ctrEvent("exec_start: sh -c true"), engineEvent("local", "engine_down")}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		ev := evs[i%len(evs)]
		for j := range ms {
			ms[j].match(ev)
		}
	}
}
