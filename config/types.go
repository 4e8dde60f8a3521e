package config

import "time"

// Defaults applied to optional fields that the file leaves out.
const (
	DefaultTimeout     = time.Minute
	DefaultMaxAttempts = 3
	DefaultBackoff     = time.Second
	DefaultMaxBackoff  = time.Minute
)

// Daemon-made event types. They are not Docker actions: the informer emits
// them when it loses and regains an engine.
const (
	TypeEngineDown = "engine_down"
	TypeEngineUp   = "engine_up"
	// TypeEngineAdded and TypeEngineRemoved are made by the daemon when an
	// engine joins or leaves the running set (a discovery source, or a
	// reload of cluster:).
	TypeEngineAdded   = "engine_added"
	TypeEngineRemoved = "engine_removed"
	// TypeAll matches every event.
	TypeAll = "*"
)

// Config is a loaded and validated events.yml.
type Config struct {
	// File is the path the config was read from ("" for the embedded default).
	File string
	// Engines in the order the file lists them.
	Engines []Engine
	// Rules in the order the file lists them.
	Rules []Rule
	// StateRules are the rules of state:, in the order the file lists them.
	StateRules []StateRule
	// Discovery are the sources of discovery:, in the order the file lists
	// them: engines added to Engines while the daemon runs.
	Discovery []Discovery
	// HA is the ha: section (config/ha.go); nil runs a single daemon.
	HA *HA
	// Monitors are the monitors of monitors:, in the order the file lists
	// them (monitor.go).
	Monitors []Monitor
}

// Engine is one named Docker engine of the cluster.
type Engine struct {
	// Name is the key under cluster:.
	Name string
	// URL is the daemon URL after ${VAR} expansion: unix://, tcp://, http://,
	// https:// or ssh://.
	URL string
	// TLS is the client TLS material of a tcp:// or https:// engine; nil means
	// plain HTTP for tcp://, and TLS with the system's roots for https://.
	TLS *TLS
	// APIVersion, when set, is the API version to speak instead of
	// negotiating one ($DOCKER_API_VERSION of the no-config engine).
	APIVersion string
	// Labels are free-form metadata, handed to handlers in the JSON on stdin.
	Labels map[string]string
	// Pos is where the engine is declared.
	Pos Pos
}

// TLS holds client TLS material for an engine, paths already ${VAR}-expanded.
type TLS struct {
	// CA is the PEM file of the CA that signed the engine's certificate;
	// "" means the system's roots.
	CA string
	// Cert is the PEM file of the client certificate; set with Key, or not at all.
	Cert string
	// Key is the PEM file of the client certificate's private key.
	Key string
	// Verify checks the engine's certificate against CA (default true).
	Verify bool
	// CAPos, CertPos and KeyPos are where CA, Cert and Key are written in
	// the file (zero when not from a file).
	CAPos, CertPos, KeyPos Pos
}

// Rule is one entry of events:.
type Rule struct {
	// Name identifies the rule in logs and in EVENTSD_RULE; defaults to "rule-N" (1-based).
	Name string
	// Types are lower-cased matchers: Docker actions ("start", "die"), an action with a
	// status ("health_status:unhealthy"), "engine_down", "engine_up" or "*".
	// "tcp_disconnect" is loaded as "engine_down".
	Types []string
	// Objects are the kinds of events the rule is about (ObjectImage, ...),
	// lower-cased, without repeats; empty means containers only (see
	// RuleObjects). Every action of Types is an action of one of them.
	Objects []string
	// Selector says which engines and containers the rule is for.
	Selector
	// ExitCodes restricts die events to these exit codes; empty matches all.
	ExitCodes []int
	// FromMonitor is a glob on the name of the monitor of a monitor event;
	// "" matches all (monitorrules.go).
	FromMonitor string
	// Action is what the rule does when it fires.
	Action
	// OnFailure is run once with /bin/sh -c, with the handler's environment
	// plus EVENTSD_FAILED_EXIT_CODE and EVENTSD_FAILED_OUTPUT, when a
	// delivery of the rule is given up (its attempts used up, or a permanent
	// exit code); "" runs nothing.
	OnFailure string
	// Cooldown, when positive, skips the deliveries of a (rule, engine,
	// container) for this long after one of them succeeded.
	Cooldown time.Duration
	// Pos is where the rule is declared.
	Pos Pos
}

// Selector is the filters event rules and state rules share: which engines
// and containers a rule is about. A filter left empty matches everything; a
// rule matches when all its set filters do.
type Selector struct {
	// FromEngine is a glob (* and ?) on the engine name; "" matches all.
	FromEngine string
	// FromContainer is a glob on the container name without its leading slash; "" matches all.
	FromContainer string
	// ImageContains is a substring of the image name; "" matches all.
	ImageContains string
	// Image is a glob on the image name; "" matches all.
	Image string
	// Labels must all be present on the container; an empty value only requires the key.
	Labels map[string]string
}

// HasContainerFilter reports whether a filter on the container is set: such
// a selector never matches what has no container (an engine_down event).
func (s *Selector) HasContainerFilter() bool {
	return s.FromContainer != "" || s.Image != "" || s.ImageContains != "" || len(s.Labels) > 0
}

// Action is what event rules and state rules do when they fire.
type Action struct {
	// Command is run with /bin/sh -c; "" means the rule only logs.
	Command string
	// Log is logged at info level each time the rule fires.
	Log string
	// Timeout bounds one run of Command.
	Timeout time.Duration
	// Retry says how a failed Command is tried again.
	Retry Retry
	// Env is added to the handler's environment.
	Env map[string]string
	// Webhook, when not nil, is an HTTP request sent with the handler's
	// JSON, after Command when both are set (see webhook.go).
	Webhook *Webhook
}

// Retry is a rule's retry policy: attempt n (n >= 2) waits
// min(Backoff * 2^(n-2), MaxBackoff), with jitter.
type Retry struct {
	// MaxAttempts counts the first run too: 1 means no retry.
	MaxAttempts int
	// Backoff is the wait before the second attempt (> 0).
	Backoff time.Duration
	// MaxBackoff caps the wait (>= Backoff).
	MaxBackoff time.Duration
	// PermanentExitCodes are exit codes that are not retried: the delivery
	// goes straight to the dead letters (event rules only).
	PermanentExitCodes []int
	// PermanentPos is where permanent_exit_codes is written (zero when not
	// set from a file).
	PermanentPos Pos
}

// Pos is a position in the config file, 1-based; the zero Pos means "not
// from a file" (Default).
type Pos struct {
	Line, Col int
}
