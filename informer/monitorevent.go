package informer

// TypeMonitor is the type (the object kind) of the events the daemon's
// monitors make: a target going down or coming back. Their Action is the
// event type (tcp_timeout, http_ok...), their ActorID "<monitor>/<target>",
// their Engine and Container those of the container checked ("" and nil for
// a fixed address).
const TypeMonitor = "monitor"

// MonitorResult is what a monitor found when a target passed a threshold:
// the part of a monitor event that engine events do not have.
type MonitorResult struct {
	// Name is the monitor's name in the config.
	Name string `json:"name"`
	// Kind is the monitor's kind: tcp, http or exec.
	Kind string `json:"kind"`
	// Target names what was checked: the container's name, or the fixed
	// address.
	Target string `json:"target"`
	// Address is where the check went (host:port, the URL, or the address
	// given to an exec plugin); "" when it could not be found.
	Address string `json:"address,omitempty"`
	// Down is true for a target going down, false for one coming back.
	Down bool `json:"down"`
	// Error is why the last check failed; "" for a target coming back.
	Error string `json:"error,omitempty"`
	// Failures is the number of consecutive failed checks counted (0 for a
	// target coming back).
	Failures int `json:"failures"`
	// Output is the start of an exec plugin's stdout, bounded (or of an
	// http body); "" for tcp.
	Output string `json:"output,omitempty"`
}
