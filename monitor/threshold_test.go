package monitor

import (
	"testing"

	"github.com/samalba/docker-eventsd/config"
)

func TestCounterPassesThresholdsOnlyOnConsecutiveChecks(t *testing.T) {
	// F: failed and counted, f: failed within the start period, o: good.
	tests := []struct {
		name   string
		checks string
		want   []transition // one per check
		result string
	}{
		{"starting to up makes no event", "oo", []transition{0, becameUp}, config.MonitorUp},
		{"three failures from starting", "FFF", []transition{0, 0, wentDown}, config.MonitorDown},
		{"a good check breaks the run", "FFoFF", []transition{0, 0, 0, 0, 0}, config.MonitorStarting},
		{"start period failures do not count", "fffFF", []transition{0, 0, 0, 0, 0}, config.MonitorStarting},
		{"down once, not again", "FFFFF", []transition{0, 0, wentDown, 0, 0}, config.MonitorDown},
		{"back after two good", "FFFoo", []transition{0, 0, wentDown, 0, cameBack}, config.MonitorUp},
		{"one good is not enough", "FFFoF", []transition{0, 0, wentDown, 0, 0}, config.MonitorDown},
		{"up then down", "ooFFF", []transition{0, becameUp, 0, 0, wentDown}, config.MonitorDown},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c counter
			for i, ch := range tt.checks {
				got := c.observe(ch == 'o', ch != 'f', 3, 2)
				if got != tt.want[i] {
					t.Errorf("check %d (%c): transition %d, want %d", i, ch, got, tt.want[i])
				}
			}
			if c.result() != tt.result {
				t.Errorf("result %q, want %q", c.result(), tt.result)
			}
		})
	}
}
