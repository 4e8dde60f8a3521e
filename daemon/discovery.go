package daemon

import (
	"context"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/go-logr/logr"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/discovery"
	"github.com/samalba/docker-eventsd/informer"
)

// discoveryState is what the daemon keeps of the sources of discovery:.
// Its fields are guarded by reload.mu, like the engine sets.
type discoveryState struct {
	// ctx is what sources run in: nil until Run starts them.
	ctx context.Context
	// running are the sources started, by key (see sourceKeys).
	running map[string]*runningSource
	// wg counts the sources' goroutines.
	wg sync.WaitGroup
	// origin is where each engine in force comes from, for the
	// EVENT_SOURCE and FROM_ENGINE_URL of its engine_removed.
	origin map[string]engineOrigin
}

// engineOrigin is the source key and the URL of an engine in force.
type engineOrigin struct{ source, url string }

// runningSource is one source started.
type runningSource struct {
	spec   config.Discovery
	cancel context.CancelFunc
	// ctx is done once the source is stopped: its late pushes are dropped.
	ctx context.Context
	// failed is set when its last set did not apply whole (an engine that
	// could not be built): the same set pushed again is tried again.
	failed bool
}

// sourceKeys returns the key of each entry of list: its kind, or, for a
// kind listed more than once, kind#N with N its 1-based place in the list.
// A key is the name of the entry's engine set (SetSourceEngines).
func sourceKeys(list []config.Discovery) []string {
	count := map[string]int{}
	for _, d := range list {
		count[d.Kind]++
	}
	keys := make([]string, len(list))
	for i, d := range list {
		keys[i] = d.Kind
		if count[d.Kind] > 1 {
			keys[i] += "#" + strconv.Itoa(i+1)
		}
	}
	return keys
}

// sourceKind returns the kind of a source key, the EVENT_SOURCE of its
// engines' events.
func sourceKind(key string) string {
	kind, _, _ := strings.Cut(key, "#")
	return kind
}

// runDiscovery starts the sources of the config's discovery: in ctx; a
// reload changes them (setDiscovery). It returns at once.
func (d *Daemon) runDiscovery(ctx context.Context) {
	d.reload.mu.Lock()
	defer d.reload.mu.Unlock()
	d.disc.ctx = ctx
	d.setDiscovery(d.opts.Config.Discovery)
}

// stopDiscovery stops every source and waits for them.
func (d *Daemon) stopDiscovery() {
	d.reload.mu.Lock()
	for _, rs := range d.disc.running {
		rs.cancel()
	}
	d.disc.running = nil
	d.disc.ctx = nil
	d.reload.mu.Unlock()
	d.disc.wg.Wait()
}

// setDiscovery makes list the sources in force: a source whose entry did
// not change keeps running (and its engines), a changed one is restarted
// (its engines stay until it pushes its first set), a removed one stops and
// its engines leave with the next applyEngines. The order of list is the
// order of precedence of their engine sets, after the static cluster:.
// Called with reload.mu held; before Run it only records the order.
func (d *Daemon) setDiscovery(list []config.Discovery) {
	keys := sourceKeys(list)
	d.setSourceOrder(keys)
	if d.disc.ctx == nil {
		return
	}
	if d.disc.running == nil {
		d.disc.running = map[string]*runningSource{}
	}
	want := map[string]config.Discovery{}
	for i, k := range keys {
		want[k] = list[i]
	}
	for k, rs := range d.disc.running {
		if spec, ok := want[k]; !ok || !spec.Equal(rs.spec) {
			rs.cancel()
			delete(d.disc.running, k)
			d.log.Info("Discovery: source stopped", "source", k)
		}
	}
	for _, k := range keys {
		if _, ok := d.disc.running[k]; ok {
			continue
		}
		src, err := discovery.New(want[k], d.discoveryOptions())
		if err != nil {
			d.log.Error(err, "Discovery: source not started", "source", k)
			continue
		}
		ctx, cancel := context.WithCancel(d.disc.ctx)
		rs := &runningSource{spec: want[k], cancel: cancel, ctx: ctx}
		d.disc.running[k] = rs
		d.disc.wg.Add(1)
		key := k
		go func() {
			defer d.disc.wg.Done()
			lctx := logr.NewContext(ctx, d.log)
			src.Run(lctx, func(engines []config.Engine) { d.pushSource(rs, key, engines) })
		}()
		d.log.Info("Discovery: source started", "source", k)
	}
}

// discoveryOptions are the sources' options: Options.Discovery, with the
// daemon's loader.
func (d *Daemon) discoveryOptions() discovery.Options {
	o := d.opts.Discovery
	o.Loader = d.opts.Loader
	return o
}

// setSourceOrder makes keys the discovery sets, in this order of
// precedence: the sets of keys already known stay, the others start empty,
// those of keys no longer listed are dropped (a set SetSourceEngines gave
// under a key of no entry too: the list is the order of precedence, which
// SetSourceEngines alone would make the order of first pushes). Called with
// reload.mu held.
func (d *Daemon) setSourceOrder(keys []string) {
	old := d.reload.sources
	d.reload.sources = make(map[string][]config.Engine, len(keys))
	for _, k := range keys {
		d.reload.sources[k] = old[k]
	}
	d.reload.sourceOrder = slices.Clone(keys)
}

// pushSource makes engines the set of the source key, as SetSourceEngines
// does, unless the source was stopped meanwhile (checked under the same
// lock, so that a stopped source never sets anything) or the set is the one
// in force.
func (d *Daemon) pushSource(rs *runningSource, key string, engines []config.Engine) {
	d.reload.mu.Lock()
	defer d.reload.mu.Unlock()
	if rs.ctx.Err() != nil || !rs.failed && sameEngines(d.reload.sources[key], engines) {
		return
	}
	start := time.Now()
	d.reload.sources[key] = slices.Clone(engines)
	ch, err := d.applyEngines(false)
	rs.failed = err != nil
	if err != nil {
		d.log.Error(err, "Discovery: engines of a source applied with errors", "source", key)
	}
	d.log.Info("Discovery: source changed", "source", key, "engines", len(engines),
		"added", len(ch.Added), "replaced", len(ch.Replaced), "removed", len(ch.Removed), "took", time.Since(start))
}

// sameEngines reports whether a and b are the same set, in the same order.
func sameEngines(a, b []config.Engine) bool {
	return a != nil && slices.EqualFunc(a, b, SameEngine)
}

// emitEngineChanges hands the controller an engine_added for each engine
// ch added and an engine_removed for each one it removed, with the source
// that gave (or had given) it, and records the source of each engine in
// force. want is the union applied. Called with reload.mu held, by
// applyEngines.
func (d *Daemon) emitEngineChanges(want []config.Engine, ch EngineChanges) {
	origin := d.engineOrigins(want)
	old := d.disc.origin
	d.disc.origin = origin
	now := time.Now()
	emit := func(name, action, source, url string) {
		d.log.Info("Engine set changed", "action", action, "engine", name, "source", source, "url", url)
		d.handler.Handle(&informer.Event{
			ID:         informer.MakeID(name, now.UnixNano(), "", action, true),
			Engine:     name,
			Type:       informer.TypeEngine,
			Action:     action,
			Attributes: map[string]string{"source": source, "url": url},
			Time:       now,
			Synthetic:  true,
		})
	}
	for _, name := range ch.Removed {
		o, ok := old[name]
		if !ok {
			o.source = config.SourceConfig
		}
		emit(name, informer.ActionEngineRemoved, sourceKind(o.source), o.url)
	}
	for _, name := range ch.Added {
		o := origin[name]
		emit(name, informer.ActionEngineAdded, sourceKind(o.source), o.url)
	}
}

// engineOrigins returns where each engine of want comes from, by the
// precedence of wantedEngines (want is its result). Called with reload.mu
// held.
func (d *Daemon) engineOrigins(want []config.Engine) map[string]engineOrigin {
	out := make(map[string]engineOrigin, len(want))
	for _, e := range want {
		out[e.Name] = engineOrigin{url: e.URL}
	}
	seen := map[string]bool{}
	add := func(source string, engines []config.Engine) {
		for _, e := range engines {
			if o, ok := out[e.Name]; ok && !seen[e.Name] {
				seen[e.Name] = true
				o.source = source
				out[e.Name] = o
			}
		}
	}
	add(SourceConfig, d.reload.static)
	for _, s := range d.reload.sourceOrder {
		add(s, d.reload.sources[s])
	}
	return out
}
