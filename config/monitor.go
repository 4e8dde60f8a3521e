package config

import (
	"slices"
	"time"
)

// Defaults of a monitor's timing, for the fields the file leaves out.
const (
	// DefaultMonitorInterval is the time between two checks of a target.
	DefaultMonitorInterval = 10 * time.Second
	// DefaultMonitorTimeout bounds one check; it is never more than the
	// interval (a shorter interval lowers it).
	DefaultMonitorTimeout = 2 * time.Second
	// DefaultMonitorFailures is the number of consecutive failed checks
	// after which a target is down.
	DefaultMonitorFailures = 3
	// DefaultMonitorSuccesses is the number of consecutive good checks after
	// which a down target is up again.
	DefaultMonitorSuccesses = 1
	// MinMonitorInterval is the shortest interval: a shorter one is a load
	// test, not a monitor.
	MinMonitorInterval = 10 * time.Millisecond
)

// Kinds of monitors: what one check does.
const (
	// MonitorTCP connects to a port and closes the connection.
	MonitorTCP = "tcp"
	// MonitorHTTP makes one HTTP request and checks its status and body.
	MonitorHTTP = "http"
	// MonitorExec runs a program: exit status 0 is healthy.
	MonitorExec = "exec"
)

// Event types of monitors: a target went down (the first of each kind's
// pair) or came back; monitor_down and monitor_up match them whatever the
// kind. They are made by the daemon, not by an engine.
const (
	TypeTCPTimeout  = "tcp_timeout"
	TypeTCPRefused  = "tcp_refused"
	TypeTCPOK       = "tcp_ok"
	TypeHTTPError   = "http_error"
	TypeHTTPOK      = "http_ok"
	TypeExecFailed  = "exec_failed"
	TypeExecOK      = "exec_ok"
	TypeMonitorDown = "monitor_down"
	TypeMonitorUp   = "monitor_up"
)

// MonitorTypes returns the event types of monitors, in a fixed order.
func MonitorTypes() []string {
	return []string{
		TypeTCPTimeout, TypeTCPRefused, TypeTCPOK, TypeHTTPError, TypeHTTPOK,
		TypeExecFailed, TypeExecOK, TypeMonitorDown, TypeMonitorUp,
	}
}

// IsMonitorType reports whether t is one of MonitorTypes.
func IsMonitorType(t string) bool { return slices.Contains(MonitorTypes(), t) }

// IsMonitorDownType reports whether t is a type of a target going down.
func IsMonitorDownType(t string) bool {
	switch t {
	case TypeTCPTimeout, TypeTCPRefused, TypeHTTPError, TypeExecFailed, TypeMonitorDown:
		return true
	}
	return false
}

// Results of a monitor for one target, as state rules select them
// (monitors: {name: down}).
const (
	// MonitorStarting: the target is checked but has passed no threshold
	// yet since it started (start_period, or fewer than failures failed or
	// successes good checks in a row).
	MonitorStarting = "starting"
	// MonitorUp: the last threshold passed was successes good checks (or
	// the target never went down since it passed them).
	MonitorUp = "up"
	// MonitorDown: failures checks in a row failed, and fewer than
	// successes good ones followed.
	MonitorDown = "down"
)

// MonitorResults returns the values of a state rule's monitors:.
func MonitorResults() []string { return []string{MonitorUp, MonitorDown, MonitorStarting} }

// Monitor is one entry of monitors: a check made at an interval on each of
// its targets.
type Monitor struct {
	// Name identifies the monitor in events (MONITOR_NAME), in from_monitor:
	// and in state rules' monitors:. Unique.
	Name string
	// Kind is MonitorTCP, MonitorHTTP or MonitorExec; exactly one of TCP,
	// HTTP and Exec is set.
	Kind string
	TCP  *TCPCheck
	HTTP *HTTPCheck
	Exec *ExecCheck
	// Targets says what is checked.
	Targets MonitorTargets
	// Interval is the time between two checks of a target.
	Interval time.Duration
	// Timeout bounds one check (<= Interval).
	Timeout time.Duration
	// Failures is the number of consecutive failed checks before a target
	// is down; Successes the number of good ones before it is up again.
	Failures, Successes int
	// StartPeriod: failed checks do not count for this long after a target
	// started (a container's start, the daemon's start for an address).
	StartPeriod time.Duration
	// Dir is the directory of the config file: an exec command runs there.
	Dir string
	// Pos is where the monitor is declared.
	Pos Pos
}

// TCPCheck is tcp: connect to Address, or to Port of each target.
type TCPCheck struct {
	// Port is the port of each target; 0 when Address is set.
	Port int
	// Address is host:port, the one target of the monitor; "" when Port is set.
	Address string
}

// HTTPCheck is http: one request per check.
type HTTPCheck struct {
	// URL is a text/template: {{.Address}} is the target's address (see
	// the monitor package), {{.Port 8080}} the port to reach its port 8080 at.
	URL string
	// Method is GET unless set.
	Method string
	// ExpectStatus are the statuses that pass; empty means 200 to 399.
	ExpectStatus []int
	// BodyContains, when set, must be in the first 64 KiB of the body.
	BodyContains string
	// Headers are added to the request (Host: sets the request's host).
	Headers map[string]string
	// TLS is the client TLS of https:// URLs; nil means the system's roots.
	TLS *TLS
}

// ExecCheck is exec: a program run with /bin/sh -c at each check.
type ExecCheck struct {
	Command string
}

// MonitorTargets is a monitor's targets: fixed addresses, or the running
// containers a selector matches (at least one container filter or
// from_engine set), or both.
type MonitorTargets struct {
	// Addresses are fixed targets: a host, or host:port.
	Addresses []string
	// Selector chooses containers; Containers reports whether it is set.
	Selector
	// Containers is true when the monitor checks containers.
	Containers bool
}
