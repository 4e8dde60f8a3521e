package daemon

import (
	"errors"
	"maps"
	"slices"

	"github.com/samalba/docker-eventsd/config"
)

// EngineChanges is what SyncEngines did, by engine name, each list sorted.
type EngineChanges struct {
	// Added are the engines started.
	Added []string
	// Replaced are the engines whose URL, TLS or labels changed: reconnected.
	Replaced []string
	// Removed are the engines stopped.
	Removed []string
	// Unchanged kept their connection, cache and replay point.
	Unchanged []string
}

// Empty reports whether nothing was added, replaced or removed.
func (c EngineChanges) Empty() bool {
	return len(c.Added) == 0 && len(c.Replaced) == 0 && len(c.Removed) == 0
}

// SyncEngines makes the running engines the set want, by name, as a diff:
// an engine whose URL, TLS and labels are unchanged keeps running untouched
// (no reconnect, no relist); a changed one is replaced (ReplaceEngine); a new
// one is added (AddEngine); a running one absent from want is removed
// (RemoveEngine). Removals go first, so that a name moved to another engine
// never runs twice. An engine that cannot be changed does not stop the
// others: the errors are joined, and the changes made are returned.
func (d *Daemon) SyncEngines(want []config.Engine) (EngineChanges, error) {
	var ch EngineChanges
	var errs []error
	have := d.engines.specs()
	wanted := make(map[string]config.Engine, len(want))
	for _, e := range want {
		wanted[e.Name] = e
	}
	for _, name := range slices.Sorted(maps.Keys(have)) {
		if _, ok := wanted[name]; ok {
			continue
		}
		if err := d.RemoveEngine(name); err != nil {
			errs = append(errs, err)
			continue
		}
		ch.Removed = append(ch.Removed, name)
	}
	for _, name := range slices.Sorted(maps.Keys(wanted)) {
		e := wanted[name]
		old, running := have[name]
		switch {
		case !running:
			if err := d.AddEngine(e); err != nil {
				errs = append(errs, err)
				continue
			}
			ch.Added = append(ch.Added, name)
		case SameEngine(old, e):
			ch.Unchanged = append(ch.Unchanged, name)
		default:
			if err := d.ReplaceEngine(e); err != nil {
				errs = append(errs, err)
				continue
			}
			ch.Replaced = append(ch.Replaced, name)
		}
	}
	return ch, errors.Join(errs...)
}

// SameEngine reports whether a and b describe the same connection: the same
// URL, TLS settings and labels (where each is declared does not count).
func SameEngine(a, b config.Engine) bool {
	if a.Name != b.Name || a.URL != b.URL || !maps.Equal(a.Labels, b.Labels) {
		return false
	}
	if (a.TLS == nil) != (b.TLS == nil) {
		return false
	}
	return a.TLS == nil || *a.TLS == *b.TLS
}
