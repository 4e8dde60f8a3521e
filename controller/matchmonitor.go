package controller

import (
	"strconv"

	"github.com/samalba/docker-eventsd/config"
	"github.com/samalba/docker-eventsd/informer"
)

// matchMonitor reports whether ev, a monitor event, passes the filters of m:
//   - its type: one of the rule's types is the event's (tcp_timeout...), or
//     monitor_down / monitor_up and the target went down / came back, or
//     "*" in a rule that sets from_monitor (a plain "*" rule is about the
//     kinds of object: it, and never sees monitor events);
//   - from_monitor: a glob on the monitor's name;
//   - from_engine and the container filters: the container checked, so a
//     set one never matches a fixed address;
//   - exit_code never matches.
func (m *matcher) matchMonitor(ev *informer.Event) bool {
	mon := ev.Monitor
	if mon == nil || len(m.exitCodes) > 0 {
		return false
	}
	if !m.monitorType(ev.Action, mon.Down) {
		return false
	}
	if m.fromMonitor != "" && !config.Match(m.fromMonitor, mon.Name) {
		return false
	}
	if m.sel.fromEngine != "" && (ev.Engine == "" || !m.sel.engine(ev.Engine)) {
		return false
	}
	if m.sel.containers && (ev.Container == nil || !m.sel.container(ev.Container)) {
		return false
	}
	return true
}

// monitorType reports whether a monitor event of action (down: a target
// that went down) is of one of the types of m.
func (m *matcher) monitorType(action string, down bool) bool {
	if m.anyType {
		return m.fromMonitor != ""
	}
	for _, k := range m.kinds {
		switch {
		case k.status != "":
		case k.kind == action:
			return true
		case k.kind == config.TypeMonitorDown && down, k.kind == config.TypeMonitorUp && !down:
			return true
		}
	}
	return false
}

// Variables the daemon sets for the handlers of monitor events.
const (
	envMonitorName     = "MONITOR_NAME"
	envMonitorTarget   = "MONITOR_TARGET"
	envMonitorError    = "MONITOR_ERROR"
	envMonitorFailures = "MONITOR_FAILURES"
	envMonitorAddress  = "MONITOR_ADDRESS"

	// envPerMonitor is the number of variables appendMonitorEnv appends.
	envPerMonitor = 5
)

// monitorEnvNames returns the names appendMonitorEnv sets, reserved.
func monitorEnvNames() []string {
	return []string{envMonitorName, envMonitorTarget, envMonitorError, envMonitorFailures, envMonitorAddress}
}

// appendMonitorEnv appends the variables of a monitor event: what was
// checked and what the check found. Other events get none.
func appendMonitorEnv(env []string, ev *informer.Event) []string {
	mon := ev.Monitor
	if ev.Type != informer.TypeMonitor || mon == nil {
		return env
	}
	return append(env,
		envMonitorName+"="+mon.Name,
		envMonitorTarget+"="+mon.Target,
		envMonitorError+"="+mon.Error,
		envMonitorFailures+"="+strconv.Itoa(mon.Failures),
		envMonitorAddress+"="+mon.Address,
	)
}
