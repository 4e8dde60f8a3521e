package daemon

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/informer/informertest"
	"github.com/samalba/docker-eventsd/metrics"
)

// BenchmarkEventPath is what the daemon does for each event an informer
// hands on, as in P2 (rules that match nothing): the engine's meter, then
// the controller's Handle. "metrics-off" has no registry (the meter only
// reports to the watchdog and keeps the last event's time), "metrics-on"
// counts eventsd_events_total too: the difference is the metrics' cost per
// event.
func BenchmarkEventPath(b *testing.B) {
	cfg, err := config.Parse("events.yml", []byte("cluster:\n  a: tcp://a.invalid:2375\nevents:\n  - name: never\n    type: [die, start, kill]\n    from_container: no-such-*\n    command: 'true'\n"))
	if err != nil {
		b.Fatal(err)
	}
	events := make([]*informer.Event, 1024)
	actions := []string{"die", "start", "kill", "health_status: healthy", "exec_start: sh -c true"}
	for i := range events {
		id := "c" + strconv.Itoa(i%16)
		events[i] = &informer.Event{
			ID: "ev" + strconv.Itoa(i), Engine: "a", Type: informer.TypeContainer, Action: actions[i%len(actions)],
			ActorID: id, Time: time.Unix(0, int64(i)),
			Container: &informer.Container{ID: id, Engine: "a", Name: "web-" + id, Image: "nginx", State: informer.StateRunning},
		}
	}
	for _, mode := range []string{"metrics-off", "metrics-on"} {
		b.Run(mode, func(b *testing.B) {
			opts := Options{Config: cfg, NewClient: func(config.Engine) (informer.Client, error) { return informertest.New(), nil }}
			if mode == "metrics-on" {
				opts.Metrics = prometheus.NewRegistry()
			}
			d, err := New(opts)
			if err != nil {
				b.Fatal(err)
			}
			defer d.Close()
			h := d.obs.lookup("a")
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				h.Handle(events[i&1023])
			}
		})
	}
}

// BenchmarkScrape is one scrape of /metrics (gather and text encoding) of a
// daemon following 1,000 fake engines of 100 containers each, two of which
// were just created and started (so eventsd_events_total has series for
// every engine), with 10 rules. It reports the series served; more than
// 10,000 fails.
func BenchmarkScrape(b *testing.B) {
	const engines, containers, rules = 1000, 100, 10
	var y strings.Builder
	y.WriteString("cluster:\n")
	fakes := map[string]*informertest.Engine{}
	for i := range engines {
		name := fmt.Sprintf("e%04d", i)
		fmt.Fprintf(&y, "  %s: tcp://%s.invalid:2375\n", name, name)
		fk := informertest.New()
		for j := range containers {
			id := fmt.Sprintf("%s-c%03d", name, j)
			fk.Create(id, id, "nginx", map[string]string{"app": "web"})
			fk.Start(id)
		}
		fakes[name] = fk
	}
	y.WriteString("events:\n")
	for i := range rules {
		fmt.Fprintf(&y, "  - name: rule-%d\n    type: die\n    from_container: app-%d-*\n    command: 'true'\n", i, i)
	}
	cfg, err := config.Parse("events.yml", []byte(y.String()))
	if err != nil {
		b.Fatal(err)
	}
	reg := metrics.NewRegistry()
	d, err := New(Options{Config: cfg, Metrics: reg, NewClient: func(e config.Engine) (informer.Client, error) { return fakes[e.Name], nil }})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- d.Run(ctx) }()
	defer func() { cancel(); <-done }()
	for name := range fakes {
		select {
		case <-d.Informer(name).Synced():
		case <-time.After(time.Minute):
			b.Fatalf("engine %s not in sync", name)
		}
	}
	for name, fk := range fakes {
		for _, id := range []string{name + "-new1", name + "-new2"} {
			fk.Create(id, id, "nginx", nil)
			fk.Start(id)
		}
	}
	deadline := time.Now().Add(time.Minute)
	for !allCounted(d, engines*(containers+2)) {
		if time.Now().After(deadline) {
			b.Fatal("the new containers' events were not all handed on in a minute")
		}
		time.Sleep(50 * time.Millisecond)
	}

	series := 0
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		mfs, err := reg.Gather()
		if err != nil {
			b.Fatal(err)
		}
		enc := expfmt.NewEncoder(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain))
		series = 0
		for _, mf := range mfs {
			series += len(mf.GetMetric())
			if err := enc.Encode(mf); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(series), "series")
	if series > 10_000 {
		b.Fatalf("%d series at %d engines × %d containers, want at most 10,000", series, engines, containers)
	}
}

// allCounted reports whether the engines' caches hold n containers in all.
func allCounted(d *Daemon, n int) bool {
	total := 0
	for _, name := range d.Engines() {
		total += d.Informer(name).Cache().Len()
	}
	return total == n
}
