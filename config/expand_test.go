package config

import (
	"strings"
	"testing"
)

func TestExpand(t *testing.T) {
	lookup := testLoader(testEnv()).LookupEnv
	tests := []struct {
		in, want string
		errs     []string // substrings, one per error
	}{
		{in: "plain", want: "plain"},
		{in: "tcp://${HOST}:$PORT", want: "tcp://10.0.0.1:2376"},
		{in: "$HOST/x", want: "10.0.0.1/x"},
		{in: "${HOST}_x", want: "10.0.0.1_x"},
		{in: "$HOST_x", errs: []string{"HOST_x is not set"}},
		{in: "${NOPE:-dflt}", want: "dflt"},
		{in: "${EMPTY:-dflt}", want: "dflt"},
		{in: "${EMPTY}", want: ""},
		{in: "${HOST:-dflt}", want: "10.0.0.1"},
		{in: "${NOPE:-}", want: ""},
		{in: "a$$b", want: "a$b"},
		{in: "$$HOST", want: "$HOST"},
		{in: "${DOLLARS}", want: "$HOST"},
		{in: "$NOPE and ${ALSO_NOPE}", errs: []string{"NOPE is not set", "ALSO_NOPE is not set"}},
		{in: "${", errs: []string{"unterminated ${"}},
		{in: "${}", errs: []string{"bad variable reference ${}"}},
		{in: "${A B}", errs: []string{"bad variable reference"}},
		{in: "${1A}", errs: []string{"bad variable reference"}},
		{in: "cost: 5$", errs: []string{"lone $"}},
		{in: "$1", errs: []string{"lone $"}},
	}
	for _, tt := range tests {
		got, errs := expand(tt.in, lookup)
		if len(errs) != len(tt.errs) {
			t.Errorf("expand(%q) errors = %v, want %d", tt.in, errs, len(tt.errs))
			continue
		}
		for i, e := range errs {
			if !strings.Contains(e.Error(), tt.errs[i]) {
				t.Errorf("expand(%q) error %d = %v, want %q", tt.in, i, e, tt.errs[i])
			}
		}
		if len(errs) == 0 && got != tt.want {
			t.Errorf("expand(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
