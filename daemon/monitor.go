package daemon

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller"
	"github.com/samalba/docker-eventsd/informer"
	"github.com/samalba/docker-eventsd/monitor"
)

// The config's monitors, put together: a monitor.Scheduler whose events go
// to the same handler as the engines' (the controller, after Observe), whose
// results the controller's state rules read, and which sees every event an
// engine hands on (the engines' caches changed) through the handler chain.

// monitorResults returns the results table of the monitors of cfg, and
// gives it to the controller's options; nil when there are no monitors.
func monitorResults(cfg *config.Config, opts *controller.Options) *monitor.Results {
	if len(cfg.Monitors) == 0 {
		return nil
	}
	r := monitor.NewResults()
	opts.MonitorResults = r
	return r
}

// newMonitors builds the monitors' scheduler, and puts it in the handler
// chain of the engines: after the controller saw an event (its cache
// change is applied), the scheduler is told. Nothing without monitors.
func (d *Daemon) newMonitors(results *monitor.Results) error {
	cfg := d.opts.Config
	if len(cfg.Monitors) == 0 {
		return nil
	}
	events := d.handler
	s, err := monitor.New(monitor.Options{
		Monitors:  cfg.Monitors,
		Handler:   events,
		Engines:   monitorEngines{d.engines},
		Inspector: monitorInspector{d.engines},
		Results:   results,
		OnChange:  d.ctrl.MonitorChanged,
		Environ:   d.opts.Environ, // as handlers get it
		Logger:    d.log,
	})
	if err != nil {
		return fmt.Errorf("daemon: %w", err)
	}
	d.monitors = s
	d.handler = informer.HandlerFunc(func(ev *informer.Event) {
		events.Handle(ev)
		s.Notify(ev)
	})
	return nil
}

// runMonitors runs the monitors until ctx is done; the channel is closed
// once every check ended (at once without monitors).
func (d *Daemon) runMonitors(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	if d.monitors == nil {
		close(done)
		return done
	}
	go func() {
		defer close(done)
		d.monitors.Run(ctx)
	}()
	return done
}

// Monitors returns the monitors' scheduler, nil without monitors (tests,
// status).
func (d *Daemon) Monitors() *monitor.Scheduler { return d.monitors }

// monitorEngines is the registry as the monitors see it.
type monitorEngines struct{ r *registry }

func (m monitorEngines) MonitorEngines() []monitor.Engine {
	s := m.r.list.Load()
	out := make([]monitor.Engine, 0, len(s.engines))
	for _, e := range s.engines {
		out = append(out, monitor.Engine{Name: e.inf.Name(), URL: e.url, Cache: e.inf.Cache()})
	}
	return out
}

// monitorInspector inspects a container with its engine's client: once per
// target start, never per check.
type monitorInspector struct{ r *registry }

func (m monitorInspector) Network(ctx context.Context, engine, id string) (monitor.Network, error) {
	s := m.r.list.Load()
	i := s.index(engine)
	if i < 0 {
		return monitor.Network{}, fmt.Errorf("engine %q is gone", engine)
	}
	res, err := s.engines[i].cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return monitor.Network{}, err
	}
	return monitor.NetworkFromInspect(&res.Container), nil
}
