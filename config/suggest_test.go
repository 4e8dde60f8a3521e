package config

import "testing"

func TestSuggest(t *testing.T) {
	tests := []struct {
		word       string
		candidates []string
		want       string
	}{
		{"from_contianer", ruleFields(), "from_container"},
		{"comand", ruleFields(), "command"},
		{"Command", ruleFields(), "command"},
		{"from-engine", ruleFields(), "from_engine"},
		{"typ", ruleFields(), "type"},
		{"exitcode", ruleFields(), "exit_code"},
		{"timeuot", ruleFields(), "timeout"},
		{"zzz", ruleFields(), ""},
		{"whatever", ruleFields(), ""},
		{"tsl", engineFields(), "tls"},
		{"dei", validTypes(), "die"},
		{"restrat", validTypes(), "restart"},
		{"engine-down", validTypes(), "engine_down"},
		{"x", []string{"ca"}, ""},
		{"", ruleFields(), ""},
	}
	for _, tt := range tests {
		if got := suggest(tt.word, tt.candidates); got != tt.want {
			t.Errorf("suggest(%q) = %q, want %q", tt.word, got, tt.want)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b  string
		limit int
		want  int
	}{
		{"", "", 2, 0},
		{"abc", "abc", 2, 0},
		{"abc", "acb", 2, 1},
		{"abc", "abd", 2, 1},
		{"abc", "ab", 2, 1},
		{"kitten", "sitting", 5, 3},
		{"kitten", "sitting", 2, 3}, // gives up past the limit
		{"a", "abcdef", 2, 3},
	}
	for _, tt := range tests {
		if got := editDistance(tt.a, tt.b, tt.limit); got != tt.want {
			t.Errorf("editDistance(%q, %q, %d) = %d, want %d", tt.a, tt.b, tt.limit, got, tt.want)
		}
	}
}
