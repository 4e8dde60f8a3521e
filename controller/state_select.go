package controller

import (
	"bytes"
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// selector is a state rule's selector compiled once: the filters event rules
// have, plus the statuses and the engine-down grace.
type selector struct {
	// match holds the engine and container filters, compiled as for event
	// rules.
	match selectorMatcher
	// statuses are the statuses wanted; empty means any but unknown.
	statuses []string
	// grace is how long an engine may be down before its containers are
	// unknown (and before the first evaluation stops waiting for it).
	grace time.Duration
	// monitors are the monitor results wanted, by monitor name
	// (statemonitor.go).
	monitors []monitorWant
}

// compileSelector compiles the selector of r.
func compileSelector(r *config.StateRule) selector {
	sel := selector{
		match: compileSelectorMatcher(&r.Selector),
		grace: max(r.EngineDownGrace, 0),

		monitors: compileMonitorWants(r.Monitors),
	}
	for _, s := range r.Status {
		s = strings.ToLower(strings.TrimSpace(s))
		if !slices.Contains(sel.statuses, s) {
			sel.statuses = append(sel.statuses, s)
		}
	}
	return sel
}

// engine reports whether the selector may match containers of the engine.
func (sel *selector) engine(name string) bool { return sel.match.engine(name) }

// expired reports whether an engine down since downSince (zero: not down)
// has been down for at least the grace at now.
func (sel *selector) expired(now, downSince time.Time) bool {
	return !downSince.IsZero() && now.Sub(downSince) >= sel.grace
}

// status reports whether a container whose status is status (its state, or
// unknown) is one of the statuses wanted.
func (sel *selector) status(c *informer.Container, status string) bool {
	if len(sel.statuses) == 0 {
		return status != config.StatusUnknown
	}
	for _, want := range sel.statuses {
		switch want {
		case config.StatusHealthy, config.StatusUnhealthy:
			if status != config.StatusUnknown && c.Health == want {
				return true
			}
		default:
			if status == want {
				return true
			}
		}
	}
	return false
}

// stateItem is one element of the set a state handler gets: the cached
// container, plus the status the selector computed for it.
type stateItem struct {
	*informer.Container
	// Status is the container's state, or unknown when its engine has been
	// down for longer than the grace.
	Status string `json:"status"`
	// Monitors are the results of the monitors the rule selects on, by
	// monitor name; absent for a rule without monitors:.
	Monitors map[string]string `json:"monitors,omitempty"`
}

// snapshot is the set of containers a state rule selects at one time.
type snapshot struct {
	items []stateItem
	// json is the canonical JSON array of items, without a newline.
	json []byte
	// hash is the first 16 hex digits of the SHA-256 of json.
	hash string
}

// count returns the number of containers in the set.
func (s *snapshot) count() int { return len(s.items) }

// ready reports whether every engine the rule may select has synced or has
// been down for longer than the grace at now. waiting names those that have
// not.
func (st *stateSet) ready(now time.Time, sel *selector) (ok bool, waiting []string) {
	for _, e := range st.engines {
		if !sel.engine(e.name) {
			continue
		}
		if e.state == nil || !e.state.HasSynced() && !sel.expired(now, e.state.DownSince()) {
			waiting = append(waiting, e.name)
		}
	}
	return len(waiting) == 0, waiting
}

// graceDeadline returns the earliest time after now at which an engine the
// rule may select will have been down for the grace, or the zero time.
func (st *stateSet) graceDeadline(now time.Time, sel *selector) time.Time {
	var next time.Time
	for _, e := range st.engines {
		if e.state == nil || !sel.engine(e.name) {
			continue
		}
		ds := e.state.DownSince()
		if ds.IsZero() {
			continue
		}
		if at := ds.Add(sel.grace); at.After(now) && (next.IsZero() || at.Before(next)) {
			next = at
		}
	}
	return next
}

// snapshot returns the set the selector selects at now, sorted by engine,
// then name, then ID.
func (st *stateSet) snapshot(now time.Time, sel *selector) (*snapshot, error) {
	items := []stateItem{}
	for _, e := range st.engines {
		if e.state == nil || !sel.engine(e.name) {
			continue
		}
		cache := e.state.Cache()
		if cache == nil {
			continue
		}
		unknown := sel.expired(now, e.state.DownSince())
		for _, ct := range cache.List() {
			if ct.State == informer.StateGone {
				continue
			}
			status := ct.State
			if unknown {
				status = config.StatusUnknown
			}
			if !sel.match.container(ct) || !sel.status(ct, status) {
				continue
			}
			mons, ok := st.monitorResults(sel, e.name, ct)
			if !ok {
				continue
			}
			items = append(items, stateItem{Container: canonical(ct, e.name), Status: status, Monitors: mons})
		}
	}
	slices.SortFunc(items, func(a, b stateItem) int {
		return cmp.Or(cmp.Compare(a.Engine, b.Engine), cmp.Compare(a.Name, b.Name), cmp.Compare(a.ID, b.ID))
	})
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(items); err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	data := bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	sum := sha256.Sum256(data)
	return &snapshot{items: items, json: data, hash: hex.EncodeToString(sum[:8])}, nil
}

// canonical returns ct as it goes in a set: with its engine set, its labels
// not null, its creation time to the second and its exit code only when it
// has exited, so that the same containers encode, and hash, the same
// whether the cache learnt them from an event, an inspect or a relist. ct
// itself is never modified.
func canonical(ct *informer.Container, engine string) *informer.Container {
	exited := ct.State == informer.StateExited || ct.State == informer.StateDead
	created := ct.Created.Truncate(time.Second).UTC()
	if ct.Engine == engine && ct.Labels != nil && ct.Created.Equal(created) && ct.Created.Location() == time.UTC &&
		(exited || ct.ExitCode == 0) {
		return ct
	}
	c := *ct
	c.Engine, c.Created = engine, created
	if c.Labels == nil {
		c.Labels = map[string]string{}
	}
	if !exited {
		c.ExitCode = 0
	}
	return &c
}
