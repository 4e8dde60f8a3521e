package config

import (
	"fmt"
	"slices"
	"strings"
)

// typeTCPDisconnect is the 2014 name of engine_down.
const typeTCPDisconnect = "tcp_disconnect"

// ContainerActions returns the Docker container actions a rule's type may
// name, in a fixed order. health_status may also carry a status, as in
// "health_status:unhealthy" (see HealthStatuses).
func ContainerActions() []string {
	return []string{
		"create", "start", "restart", "stop", "kill", "die", "oom",
		"pause", "unpause", "rename", "update", "destroy",
		"attach", "detach", "commit", "copy", "export", "resize", "top",
		"exec_create", "exec_start", "exec_die", "exec_detach",
		"health_status", "archive-path", "extract-to-dir", "prune",
	}
}

// HealthStatuses returns the statuses that may follow "health_status:" in a
// rule's type.
func HealthStatuses() []string {
	return []string{"healthy", "unhealthy", "starting"}
}

// validTypes returns every type a rule may name, for hints and suggestions.
func validTypes() []string {
	types := []string{TypeAll, TypeEngineDown, TypeEngineUp, TypeEngineAdded, TypeEngineRemoved}
	types = append(types, ContainerActions()...)
	types = append(types, MonitorTypes()...)
	for _, s := range HealthStatuses() {
		types = append(types, "health_status:"+s)
	}
	return types
}

// normalizeType lower-cases and trims one item of a rule's type, maps
// tcp_disconnect to engine_down and "health_status: x" to
// "health_status:x", and checks that the result is a known type.
func normalizeType(item string) (string, error) {
	t := strings.ToLower(strings.TrimSpace(item))
	if t == "" {
		return "", fmt.Errorf("empty type")
	}
	if t == typeTCPDisconnect {
		return TypeEngineDown, nil
	}
	if base, status, ok := strings.Cut(t, ":"); ok {
		base, status = strings.TrimSpace(base), strings.TrimSpace(status)
		if base != "health_status" {
			return "", fmt.Errorf("unknown type %q: only health_status takes a status after \":\"", strings.TrimSpace(item))
		}
		if !slices.Contains(HealthStatuses(), status) {
			return "", fmt.Errorf("unknown health status %q%s; want one of %s",
				status, didYouMean(status, HealthStatuses()), strings.Join(HealthStatuses(), ", "))
		}
		return base + ":" + status, nil
	}
	if t == TypeAll || isEngineType(t) || slices.Contains(ContainerActions(), t) || IsMonitorType(t) {
		return t, nil
	}
	return "", fmt.Errorf("unknown type %q%s; valid types: %s",
		strings.TrimSpace(item), didYouMean(t, validTypes()), typesHint())
}

// typesHint lists the valid types in short: "*, engine_down (or
// tcp_disconnect), engine_up, create, ..., health_status[:healthy|...], ...".
func typesHint() string {
	var b strings.Builder
	b.WriteString("*, engine_down (or tcp_disconnect), engine_up, engine_added, engine_removed")
	for _, a := range ContainerActions() {
		b.WriteString(", ")
		b.WriteString(a)
		if a == "health_status" {
			b.WriteString("[:" + strings.Join(HealthStatuses(), "|") + "]")
		}
	}
	b.WriteString(", " + strings.Join(MonitorTypes(), ", "))
	return b.String()
}

// isEngineType reports whether t is one of the daemon-made engine types.
func isEngineType(t string) bool {
	return t == TypeEngineDown || t == TypeEngineUp || t == TypeEngineAdded || t == TypeEngineRemoved
}
