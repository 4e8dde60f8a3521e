package daemon

import (
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/samalba/docker-eventsd/controller"
	"github.com/samalba/docker-eventsd/informer"
)

// gathered returns the value of the series name{labels} in reg, and
// whether it exists.
func gathered(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string) (float64, bool) {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatalf("Gather: %v", err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, l := range m.GetLabel() {
				have[l.GetName()] = l.GetValue()
			}
			for k, v := range labels {
				if have[k] != v {
					continue next
				}
			}
			return value(m), true
		}
	}
	return 0, false
}

func value(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	}
	return 0
}

// waitMetric waits until name{labels} in reg has the value want.
func waitMetric(t *testing.T, reg *prometheus.Registry, name string, labels map[string]string, want float64) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	for {
		got, ok := gathered(t, reg, name, labels)
		if ok && got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s%v = %v (present %v) after %v, want %v", name, labels, got, ok, waitTimeout, want)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestMetricsCountEventsEnginesRulesAndTheQueue(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixtureWith(t, func(o *Options) { o.Metrics = reg }, "", "a", "b")
	f.run("a", "c1")
	f.waitEvent("a c1 " + url("a"))

	for _, tt := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"eventsd_events_total", map[string]string{"engine": "a", "type": "container", "action": "start"}, 1},
		{"eventsd_events_synthesized_total", map[string]string{"engine": "a"}, 0},
		{"eventsd_engine_up", map[string]string{"engine": "a"}, 1},
		{"eventsd_engine_up", map[string]string{"engine": "b"}, 1},
		{"eventsd_engine_containers", map[string]string{"engine": "a"}, 1},
		{"eventsd_engine_containers", map[string]string{"engine": "b"}, 0},
		{"eventsd_engine_reconnects_total", map[string]string{"engine": "a"}, 0},
		{"eventsd_rule_matches_total", map[string]string{"rule": "started"}, 1},
		{"eventsd_handler_runs_total", map[string]string{"rule": "started", "result": "success"}, 1},
		{"eventsd_handler_runs_total", map[string]string{"rule": "started", "result": "gave_up"}, 0},
		{"eventsd_handler_duration_seconds", map[string]string{"rule": "started"}, 1},
		{"eventsd_deliveries_pending", map[string]string{"rule": "started"}, 0},
		{"eventsd_dead_letters", map[string]string{"rule": "started"}, 0},
		{"eventsd_config_reload_success", nil, 1},
		{"workqueue_adds_total", map[string]string{"name": "deliveries"}, 1},
	} {
		waitMetric(t, reg, tt.name, tt.labels, tt.want)
	}
	if ts, _ := gathered(t, reg, "eventsd_engine_last_event_timestamp_seconds", map[string]string{"engine": "a"}); ts < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("eventsd_engine_last_event_timestamp_seconds{engine=a} = %v, want about now", ts)
	}
	if at, _ := gathered(t, reg, "eventsd_config_reload_success_timestamp_seconds", nil); at < float64(time.Now().Add(-time.Minute).Unix()) {
		t.Errorf("eventsd_config_reload_success_timestamp_seconds = %v, want the start-up time", at)
	}
}

func TestMetricsOfARemovedEngineLeaveTheScrape(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixtureWith(t, func(o *Options) { o.Metrics = reg }, "", "a", "b")
	f.run("b", "c1")
	waitMetric(t, reg, "eventsd_events_total", map[string]string{"engine": "b", "action": "start"}, 1)
	if err := f.d.RemoveEngine("b"); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"eventsd_events_total", "eventsd_engine_up", "eventsd_events_synthesized_total"} {
		if _, ok := gathered(t, reg, name, map[string]string{"engine": "b"}); ok {
			t.Errorf("%s{engine=b} still scraped after RemoveEngine", name)
		}
	}
}

func TestConfigReloadedSetsTheReloadGauges(t *testing.T) {
	reg := prometheus.NewRegistry()
	f := newFixtureWith(t, func(o *Options) { o.Metrics = reg }, "", "a")
	at := time.Unix(2_000_000_000, 0)
	f.d.ConfigReloaded(true, at)
	waitMetric(t, reg, "eventsd_config_reload_success_timestamp_seconds", nil, float64(at.Unix()))
	f.d.ConfigReloaded(false, at.Add(time.Hour))
	waitMetric(t, reg, "eventsd_config_reload_success", nil, 0)
	waitMetric(t, reg, "eventsd_config_reload_success_timestamp_seconds", nil, float64(at.Unix()))
	if st := f.d.Status(0).Reload; st.Success || !st.At.Equal(at) {
		t.Errorf("Status().Reload = %+v, want failed, config of %v still in use", st, at)
	}
}

func TestStatusShowsEnginesRulesAndReadinessOfAnEngineDown(t *testing.T) {
	f := newFixture(t, "", "a", "b")
	f.run("a", "c1")
	f.waitEvent("a c1 " + url("a"))
	// The handler's output is written before the run is counted: wait
	// for the count.
	for deadline := time.Now().Add(waitTimeout); ; time.Sleep(5 * time.Millisecond) {
		if rs := f.d.Status(time.Hour).Rules; len(rs) > 0 && slices.ContainsFunc(rs, func(r controller.RuleStatus) bool { return r.Name == "started" && r.Runs == 1 }) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rule started not counted as run after %v", waitTimeout)
		}
	}
	f.fake("b").SetDown(true)
	deadline := time.Now().Add(waitTimeout)
	for engineState(f.d.Informer("b")) != EngineDown {
		if time.Now().After(deadline) {
			t.Fatalf("engine b is %s after %v, want down", engineState(f.d.Informer("b")), waitTimeout)
		}
		time.Sleep(5 * time.Millisecond)
	}

	st := f.d.Status(time.Hour)
	if st.Ready || !slices.Equal(st.Waiting, []string{"b"}) {
		t.Errorf("with an hour of grace: Ready %v waiting %v, want not ready, waiting for b", st.Ready, st.Waiting)
	}
	if ok, waiting := f.d.Ready(time.Nanosecond); !ok {
		t.Errorf("with b down past its grace: Ready false waiting %v, want ready", waiting)
	}
	if len(st.Engines) != 2 {
		t.Fatalf("Engines = %+v, want a and b", st.Engines)
	}
	a, b := st.Engines[0], st.Engines[1]
	if a.Name != "a" || a.State != EngineUp || a.Containers != 1 || a.LastEvent.IsZero() || a.URL != url("a") {
		t.Errorf("engine a = %+v, want up with 1 container and a last event", a)
	}
	if b.State != EngineDown || b.DownSince.IsZero() {
		t.Errorf("engine b = %+v, want down", b)
	}
	var started *struct{ matched, runs uint64 }
	for _, r := range st.Rules {
		if r.Name == "started" {
			started = &struct{ matched, runs uint64 }{r.Matched, r.Runs}
			if r.LastRun.IsZero() || r.Failed != 0 || r.LastError != "" {
				t.Errorf("rule started = %+v, want a last run, no failure", r)
			}
		}
	}
	if started == nil || started.matched != 1 || started.runs != 1 {
		t.Errorf("rule started: %+v, want matched 1, runs 1", started)
	}
}

func TestStuckNamesTheEngineLoopStuckInAnEvent(t *testing.T) {
	release := make(chan struct{})
	blocked := make(chan struct{}, 1)
	f := newFixtureWith(t, func(o *Options) {
		o.StuckAfter = 50 * time.Millisecond
		o.Observe = informer.HandlerFunc(func(ev *informer.Event) {
			if ev.Engine == "a" && ev.Action == "start" {
				blocked <- struct{}{}
				<-release
			}
		})
	}, "", "a", "b")
	if s := f.d.Stuck(); len(s) != 0 {
		t.Fatalf("Stuck() = %v before anything, want none", s)
	}
	f.run("a", "c1")
	<-blocked
	deadline := time.Now().Add(waitTimeout)
	for !slices.Equal(f.d.Stuck(), []string{"engine/a"}) {
		if time.Now().After(deadline) {
			t.Fatalf("Stuck() = %v after %v, want [engine/a]", f.d.Stuck(), waitTimeout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	close(release)
	f.waitEvent("a c1 " + url("a"))
	for len(f.d.Stuck()) != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("Stuck() = %v once released, want none", f.d.Stuck())
		}
		time.Sleep(10 * time.Millisecond)
	}
}
