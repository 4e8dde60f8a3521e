package main

import (
	"strings"
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/daemon"
	"github.com/samalba/docker-eventsd/ha"
)

func TestPrintStatusSaysWhichReplicaLeadsAndSinceWhen(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	tests := []struct {
		name string
		ha   *daemon.HAStatus
		want []string
	}{
		{"standby", &daemon.HAStatus{Status: ha.Status{Replica: "r2", Leader: "r1", LeaderSince: now.Add(-time.Minute), FenceToken: 42}, Mode: "leader"},
			[]string{"HA replica:", "r2 (standby)", "r1, since 1m0s ago, fence token 42"}},
		{"leader", &daemon.HAStatus{Status: ha.Status{Replica: "r1", Leading: true, Leader: "r1", LeaderSince: now.Add(-time.Hour), FenceToken: 7}, Mode: "leader"},
			[]string{"r1 (leader)", "r1, since 1h0m0s ago, fence token 7"}},
		{"shard", &daemon.HAStatus{Status: ha.Status{Replica: "r1"}, Mode: "shard", Members: []string{"r1", "r2"}, Owned: []string{"a"}},
			[]string{"HA members:", "r1, r2", "HA engines owned:", " a\n"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out strings.Builder
			if err := printStatus(&out, &daemon.Status{HA: tt.ha, Reload: daemon.ReloadStatus{Success: true}}, now); err != nil {
				t.Fatal(err)
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("status lacks %q:\n%s", w, out.String())
				}
			}
		})
	}
	var out strings.Builder
	_ = printStatus(&out, &daemon.Status{}, now)
	if strings.Contains(out.String(), "HA") {
		t.Errorf("status without ha: shows HA lines:\n%s", out.String())
	}
}
