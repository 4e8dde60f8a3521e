package daemon

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/controller"
)

// reloadState is what hot reload keeps: the engine sets whose union runs,
// and the outcome of the last reload.
type reloadState struct {
	// fileMu serializes the reloads of the file, from its read to its
	// apply: of two reloads at once (SIGHUP and the watcher), the one that
	// read the file last applies last.
	fileMu sync.Mutex
	// mu serializes reloads and changes of the engine sets.
	mu sync.Mutex
	// static are the engines of the config's cluster:, the first set.
	static []config.Engine
	// sources are the engines of other sources (discovery), by source name,
	// in the order they were first set.
	sources     map[string][]config.Engine
	sourceOrder []string
	// actionsMu guards actions and objects, which newEngine reads.
	actionsMu sync.Mutex
	// hash is the content hash of the config file last read, nil before.
	hash []byte
	// at and err are when the last reload ended and its error (nil: it
	// applied).
	at  time.Time
	err error
}

// Reloaded is what a reload did.
type Reloaded struct {
	controller.Reloaded
	// Engines are the engines' changes.
	Engines EngineChanges
	// Restarted is set when the event filters of the informers changed with
	// the rules: every engine was restarted (Engines.Replaced lists them).
	Restarted bool
}

// Reload reads the config file the daemon was started with
// (Options.Config.File) again and applies it (ApplyConfig). An invalid file
// is refused: each of its errors is logged with its file:line:col, the
// running config stays in force, and LastReload reports the failure until a
// reload succeeds. SIGHUP calls it.
func (d *Daemon) Reload() (Reloaded, error) {
	return d.reloadFile(false)
}

// ReloadIfChanged is Reload, but does nothing when the file's content is the
// same as at the last reload (or at start): what the file watcher calls.
// changed reports whether it read a new content.
func (d *Daemon) ReloadIfChanged() (r Reloaded, changed bool, err error) {
	r, err = d.reloadFile(true)
	if errors.Is(err, errUnchanged) {
		return r, false, nil
	}
	return r, true, err
}

var errUnchanged = errors.New("config file unchanged")

// ErrNoConfigFile is what Reload returns when the daemon was started without
// a config file (the default config from DOCKER_HOST): nothing is reloaded,
// and the last reload's outcome is unchanged.
var ErrNoConfigFile = errors.New("no config file: the daemon runs the default config")

func (d *Daemon) reloadFile(onlyIfChanged bool) (Reloaded, error) {
	d.reload.fileMu.Lock()
	defer d.reload.fileMu.Unlock()
	file := d.opts.Config.File
	if file == "" {
		// Not a failure: there is nothing to reload.
		d.log.Info("Reload requested, but the daemon runs the default config: no file to reload")
		return Reloaded{}, ErrNoConfigFile
	}
	data, err := os.ReadFile(file)
	if err != nil {
		err = fmt.Errorf("reload config: %w", err)
		d.reloadFailed(err)
		return Reloaded{}, err
	}
	sum := sha256.Sum256(data)
	d.reload.mu.Lock()
	same := d.reload.hash != nil && bytes.Equal(d.reload.hash, sum[:])
	d.reload.hash = sum[:]
	d.reload.mu.Unlock()
	if onlyIfChanged && same {
		return Reloaded{}, errUnchanged
	}
	cfg, err := d.opts.Loader.Parse(file, data)
	if err != nil {
		d.reloadFailed(err)
		return Reloaded{}, err
	}
	return d.ApplyConfig(cfg)
}

// reloadFailed logs a refused reload, each config error on its own line,
// and records it for LastReload.
func (d *Daemon) reloadFailed(err error) {
	var list config.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			d.log.Error(e, "Config reload refused: invalid config", "file", e.File, "line", e.Line, "col", e.Col, "field", e.Field)
		}
	}
	d.reload.mu.Lock()
	d.reload.at, d.reload.err = time.Now(), err
	d.reload.mu.Unlock()
	d.ConfigReloaded(false, time.Now())
	d.log.Error(err, "Config reload refused, the running config stays in force", "errors", max(1, len(list)))
}

// LastReload returns when the last reload ended and its error: nil when it
// applied (or when there was none: the zero time). A refused reload's error
// stays until a reload applies.
func (d *Daemon) LastReload() (time.Time, error) {
	d.reload.mu.Lock()
	defer d.reload.mu.Unlock()
	return d.reload.at, d.reload.err
}

// ApplyConfig puts cfg, validated, in force as a diff of the running one:
// the rules first (controller.SetRules: by name), then the engines of its
// cluster: (the static set; the engines in force are it and the other
// sources' sets, see SetSourceEngines) through SyncEngines. When the
// container actions the rules want change, the informers' event filters
// change: every engine is then restarted (from its checkpoint when it has
// one). An engine that cannot be changed is logged and returned as an error;
// the rest applies.
func (d *Daemon) ApplyConfig(cfg *config.Config) (Reloaded, error) {
	start := time.Now()
	d.reload.mu.Lock()
	defer d.reload.mu.Unlock()
	var r Reloaded
	r.Reloaded = d.ctrl.SetRules(cfg)
	next, nextObjects := actions(cfg), objects(cfg)
	d.reload.actionsMu.Lock()
	r.Restarted = !slices.Equal(next, d.actions) || (next == nil) != (d.actions == nil) ||
		!maps.EqualFunc(nextObjects, d.objects, slices.Equal[[]string])
	d.actions, d.objects = next, nextObjects
	d.reload.actionsMu.Unlock()
	d.reload.static = slices.Clone(cfg.Engines)
	d.setDiscovery(cfg.Discovery)
	var err error
	r.Engines, err = d.applyEngines(r.Restarted)
	d.reload.at, d.reload.err = time.Now(), err
	d.ConfigReloaded(err == nil, d.reload.at)
	for _, c := range [...]struct {
		kind string
		ch   controller.RuleChanges
	}{{"rule", r.Rules}, {"state rule", r.StateRules}} {
		for _, name := range c.ch.Added {
			d.log.Info("Reload: rule added", "kind", c.kind, "rule", name)
		}
		for _, name := range c.ch.Changed {
			d.log.Info("Reload: rule changed", "kind", c.kind, "rule", name)
		}
		for _, name := range c.ch.Removed {
			d.log.Info("Reload: rule removed", "kind", c.kind, "rule", name)
		}
	}
	if err != nil {
		d.log.Error(err, "Config reload applied with engine errors")
	}
	d.log.Info("Config reloaded", "file", cfg.File, "summary", cfg.Summary(),
		"enginesAdded", len(r.Engines.Added), "enginesReplaced", len(r.Engines.Replaced),
		"enginesRemoved", len(r.Engines.Removed), "enginesUnchanged", len(r.Engines.Unchanged),
		"filtersChanged", r.Restarted, "took", time.Since(start))
	return r, err
}

// SetSourceEngines makes engines the set of the named source (a discovery
// source; "config" is the static cluster: and cannot be set here), and
// applies the union of every set (applyEngines).
func (d *Daemon) SetSourceEngines(source string, engines []config.Engine) (EngineChanges, error) {
	if source == SourceConfig {
		return EngineChanges{}, fmt.Errorf("source %q: set by the config", source)
	}
	d.reload.mu.Lock()
	defer d.reload.mu.Unlock()
	if d.reload.sources == nil {
		d.reload.sources = map[string][]config.Engine{}
	}
	if _, ok := d.reload.sources[source]; !ok {
		d.reload.sourceOrder = append(d.reload.sourceOrder, source)
	}
	d.reload.sources[source] = slices.Clone(engines)
	return d.applyEngines(false)
}

// SourceConfig names the static cluster: of the config among the engine
// sources.
const SourceConfig = "config"

// wantedEngines returns the union of the engine sets: the static cluster:
// first, then each source in the order it was first set; a name already
// taken by an earlier set is skipped and logged. Called with reload.mu held.
func (d *Daemon) wantedEngines() []config.Engine {
	seen := map[string]string{}
	var out []config.Engine
	add := func(source string, engines []config.Engine) {
		for _, e := range engines {
			if first, dup := seen[e.Name]; dup {
				d.log.Info("Engine name given by two sources, the first one wins", "engine", e.Name, "source", source, "winner", first)
				continue
			}
			seen[e.Name] = source
			out = append(out, e)
		}
	}
	add(SourceConfig, d.reload.static)
	for _, s := range d.reload.sourceOrder {
		add(s, d.reload.sources[s])
	}
	return out
}

// applyEngines makes the running engines the union of the sets
// (SyncEngines); with restartAll, the unchanged ones are replaced too (their
// event filters changed). Called with reload.mu held.
func (d *Daemon) applyEngines(restartAll bool) (EngineChanges, error) {
	want := d.wantedEngines()
	ch, err := d.SyncEngines(want)
	d.emitEngineChanges(want, ch)
	if !restartAll {
		return ch, err
	}
	errs := []error{err}
	byName := map[string]config.Engine{}
	for _, e := range want {
		byName[e.Name] = e
	}
	for _, name := range ch.Unchanged {
		if e := d.ReplaceEngine(byName[name]); e != nil {
			errs = append(errs, e)
			continue
		}
		ch.Replaced = append(ch.Replaced, name)
	}
	slices.Sort(ch.Replaced)
	ch.Unchanged = nil
	return ch, errors.Join(errs...)
}

// engineFilters returns the container actions and the other kinds' actions
// the informers stream now.
func (d *Daemon) engineFilters() ([]string, map[string][]string) {
	d.reload.actionsMu.Lock()
	defer d.reload.actionsMu.Unlock()
	return d.actions, d.objects
}
