package config

import (
	"fmt"
	"slices"
)

// Engine returns the engine called name.
func (c *Config) Engine(name string) (*Engine, bool) {
	for i := range c.Engines {
		if c.Engines[i].Name == name {
			return &c.Engines[i], true
		}
	}
	return nil, false
}

// Summary describes c in one line, such as "events.yml: 2 engines, 1 rule"
// (and ", 1 state rule", ", 1 monitor" when there are state rules, monitors).
func (c *Config) Summary() string {
	file := c.File
	if file == "" {
		file = "default config"
	}
	s := fmt.Sprintf("%s: %s, %s", file, plural(len(c.Engines), "engine"), plural(len(c.Rules), "rule"))
	if len(c.StateRules) > 0 {
		s += ", " + plural(len(c.StateRules), "state rule")
	}
	if len(c.Discovery) > 0 {
		s += ", " + plural(len(c.Discovery), "discovery source")
	}
	if len(c.Monitors) > 0 {
		s += ", " + plural(len(c.Monitors), "monitor")
	}
	return s
}

// HasType reports whether t, a normalized type such as "die",
// "health_status:healthy" or "*", is one of the rule's types. It compares
// types; it does not match events.
func (r *Rule) HasType(t string) bool {
	return slices.Contains(r.Types, t)
}

// plural returns "1 rule", "2 rules".
func plural(n int, noun string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", noun)
	}
	return fmt.Sprintf("%d %ss", n, noun)
}
