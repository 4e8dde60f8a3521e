package controller

import (
	"slices"
	"strings"

	"github.com/samalba/docker-eventsd/informer"
)

// MonitorResults tells the current result of a monitor for a container:
// up, down or starting (config.MonitorResults), and false when the monitor
// does not check the container now. *monitor.Results implements it.
type MonitorResults interface {
	Result(monitor, engine, containerID string) (string, bool)
}

// monitorWant is one entry of a state rule's monitors: the results of one
// monitor that select a container.
type monitorWant struct {
	name    string
	results []string
}

// compileMonitorWants compiles a state rule's monitors:, sorted by monitor
// name so that the set's JSON is the same every time.
func compileMonitorWants(m map[string][]string) []monitorWant {
	var out []monitorWant
	for name, results := range m {
		w := monitorWant{name: name}
		for _, r := range results {
			w.results = append(w.results, strings.ToLower(strings.TrimSpace(r)))
		}
		out = append(out, w)
	}
	slices.SortFunc(out, func(a, b monitorWant) int { return strings.Compare(a.name, b.name) })
	return out
}

// monitorResults reports whether the container ct of engine passes the
// monitors: of sel, and returns their results for the set's JSON (nil for
// a rule without monitors:). A container that a monitor does not check now
// (not a target of it, or no results at all) passes none of its entries:
// a rule such as {mysql: down} selects only containers mysql checks.
func (st *stateSet) monitorResults(sel *selector, engine string, ct *informer.Container) (map[string]string, bool) {
	if len(sel.monitors) == 0 {
		return nil, true
	}
	if st.monitors == nil {
		return nil, false
	}
	out := make(map[string]string, len(sel.monitors))
	for _, w := range sel.monitors {
		r, ok := st.monitors.Result(w.name, engine, ct.ID)
		if !ok || !slices.Contains(w.results, r) {
			return nil, false
		}
		out[w.name] = r
	}
	return out, true
}

// MonitorChanged tells the state rules that a monitor's result changed:
// they evaluate again (the monitors call it through their OnChange). It
// never blocks.
func (c *Controller) MonitorChanged() { c.state.mark() }
