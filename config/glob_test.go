package config

import "testing"

func TestMatch(t *testing.T) {
	tests := []struct {
		pattern, s string
		want       bool
	}{
		{"", "", true},
		{"", "anything", true},
		{"foo", "foo", true},
		{"foo", "foobar", false},
		{"foo", "fo", false},
		{"*", "", true},
		{"*", "a/b/c", true},
		{"*ubuntu*", "docker.io/library/ubuntu:22.04", true},
		{"*ubuntu*", "docker.io/library/debian:12", false},
		{"ubuntu*", "docker.io/library/ubuntu:22.04", false},
		{"*/myorg/worker:*", "registry.example.com/myorg/worker:1.2", true},
		{"*/myorg/worker:*", "registry.example.com/myorg/worker", false},
		{"prod-*", "prod-1", true},
		{"prod-*", "prod-", true},
		{"prod-*", "prod", false},
		{"prod-?", "prod-1", true},
		{"prod-?", "prod-12", false},
		{"prod-?", "prod-", false},
		{"?", "é", true},   // ? is one character, not one byte
		{"??", "é", false}, // é is one character
		{"*?", "é", true},
		{"*??", "é", false},
		{"a*b*c", "abc", true},
		{"a*b*c", "aXbYc", true},
		{"a*b*c", "aXbY", false},
		{"a*b*c", "acb", false},
		{"*a*a*a*b", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", false},
		{"**", "x", true},
		{"a**b", "ab", true},
		{`\*`, "*", true},
		{`\*`, "x", false},
		{`a\?`, "a?", true},
		{`a\?`, "ab", false},
		{`\\`, `\`, true},
		{`a\`, `a\`, true}, // a trailing \ matches itself
		{`\a`, "a", true},
		{`*\*`, "x*", true},
		{`*\*`, "x", false},
		{"Web", "web", false}, // case-sensitive
		{"web-*", "/web-1", false},
	}
	for _, tt := range tests {
		if got := Match(tt.pattern, tt.s); got != tt.want {
			t.Errorf("Match(%q, %q) = %v, want %v", tt.pattern, tt.s, got, tt.want)
		}
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	allocs := testing.AllocsPerRun(100, func() {
		Match("*library/ubuntu:*", "docker.io/library/ubuntu:22.04")
		Match(`prod-\*?`, "prod-*1")
	})
	if allocs != 0 {
		t.Errorf("Match allocates %v times per run, want 0", allocs)
	}
}

func TestValidGlob(t *testing.T) {
	tests := []struct {
		pattern string
		ok      bool
	}{
		{"", true},
		{"*ubuntu*", true},
		{`\*`, true},
		{`a\\`, true},
		{`a\`, false},
		{`\`, false},
		{`a\\\`, false},
		{"[a-z]", true}, // brackets are literal
	}
	for _, tt := range tests {
		if err := ValidGlob(tt.pattern); (err == nil) != tt.ok {
			t.Errorf("ValidGlob(%q) = %v, want ok=%v", tt.pattern, err, tt.ok)
		}
	}
}

func TestIsLiteralGlob(t *testing.T) {
	tests := []struct {
		pattern, lit string
		ok           bool
	}{
		{"foo", "foo", true},
		{`fo\o`, "foo", true},
		{`a\*`, "a*", true},
		{"a*", "", false},
		{"a?", "", false},
		{"", "", true},
	}
	for _, tt := range tests {
		lit, ok := isLiteralGlob(tt.pattern)
		if lit != tt.lit || ok != tt.ok {
			t.Errorf("isLiteralGlob(%q) = %q, %v, want %q, %v", tt.pattern, lit, ok, tt.lit, tt.ok)
		}
	}
}

func BenchmarkMatch(b *testing.B) {
	for b.Loop() {
		Match("*library/ubuntu:*", "docker.io/library/ubuntu:22.04")
	}
}
