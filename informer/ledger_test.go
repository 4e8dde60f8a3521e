package informer

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestPingPeriod(t *testing.T) {
	tests := []struct {
		heartbeat, timeout, want time.Duration
	}{
		{5 * time.Second, 2 * time.Second, 3 * time.Second},           // the defaults: down by 5 s
		{5 * time.Second, time.Second, 4 * time.Second},               // down by 5 s
		{5 * time.Second, 4500 * time.Millisecond, time.Second},       // floor: down by 5.5 s
		{500 * time.Millisecond, time.Second, 100 * time.Millisecond}, // timeout above heartbeat: floor
		{300 * time.Millisecond, 300 * time.Millisecond, 60 * time.Millisecond},
	}
	for _, tt := range tests {
		inf := New(Options{Heartbeat: tt.heartbeat, HeartbeatTimeout: tt.timeout})
		if got := inf.pingPeriod(); got != tt.want {
			t.Errorf("pingPeriod(heartbeat %v, timeout %v) = %v, want %v", tt.heartbeat, tt.timeout, got, tt.want)
		}
	}
}

func TestSynthesizeRuns(t *testing.T) {
	created := time.Unix(0, 7)
	ctr := func(state string, exit int, mark, startedAt int64) *Container {
		return &Container{ID: "c", Name: "c", State: state, ExitCode: exit, Created: created, Labels: map[string]string{}, mark: mark, startedAt: startedAt}
	}
	const cutoff, seen = 1000, 999
	tests := []struct {
		name      string
		prev, cur *Container
		r         *run
		// want is "action:exit:basis" per transition, basis as kind+value.
		want string
	}{
		{"new, exited, it ran: start then die", nil, ctr(StateExited, 3, 0, 0), &run{StateExited, 50, 60}, "start:0:s50 die:3:o7"},
		{"new, exited, no inspect: die", nil, ctr(StateExited, 3, 0, 0), nil, "die:3:o7"},
		{"new, exited, never started: die", nil, ctr(StateExited, 3, 0, 0), &run{StateExited, 0, 60}, "die:3:o7"},
		{"new, running", nil, ctr(StateRunning, 0, 0, 0), &run{StateRunning, 50, 0}, "start:0:o7"},
		{"new, running, an earlier run ended", nil, ctr(StateRunning, 0, 0, 0), &run{StateRunning, 50, 40}, "start:0:f40 die:-1:f40 start:0:o7"},
		{"new, created", nil, ctr(StateCreated, 0, 0, 0), &run{StateCreated, 0, 0}, ""},
		{"running, restarted unseen", ctr(StateRunning, 0, 100, 0), ctr(StateRunning, 0, 0, 0), &run{StateRunning, 150, 140}, "die:-1:m100 start:0:s150"},
		{"running, restarted unseen, its run known", ctr(StateRunning, 0, 100, 90), ctr(StateRunning, 0, 0, 0), &run{StateRunning, 150, 140}, "die:-1:s90 start:0:s150"},
		{"running, same run", ctr(StateRunning, 0, 100, 0), ctr(StateRunning, 0, 0, 0), &run{StateRunning, 90, 0}, ""},
		{"running, died", ctr(StateRunning, 0, 100, 0), ctr(StateExited, 137, 0, 0), &run{StateExited, 90, 150}, "die:137:m100"},
		{"running, died, its run known", ctr(StateRunning, 0, 100, 90), ctr(StateExited, 137, 0, 0), &run{StateExited, 90, 150}, "die:137:s90"},
		{"running, died, no inspect", ctr(StateRunning, 0, 100, 0), ctr(StateExited, 137, 0, 0), nil, "die:137:m100"},
		{"running, restarted and died unseen", ctr(StateRunning, 0, 100, 0), ctr(StateExited, 1, 0, 0), &run{StateExited, 150, 160}, "die:-1:m100 start:0:s150 die:1:s150"},
		{"exited, ran and started again unseen", ctr(StateExited, 0, 100, 0), ctr(StateRunning, 0, 0, 0), &run{StateRunning, 130, 120}, "start:0:f120 die:-1:f120 start:0:m100"},
		{"exited, started", ctr(StateExited, 0, 100, 0), ctr(StateRunning, 0, 0, 0), &run{StateRunning, 130, 80}, "start:0:m100"},
		{"exited, started, no inspect", ctr(StateExited, 0, 100, 0), ctr(StateRunning, 0, 0, 0), nil, "start:0:m100"},
		{"exited, ran unseen", ctr(StateExited, 0, 100, 0), ctr(StateExited, 2, 0, 0), &run{StateExited, 120, 125}, "start:0:s120 die:2:s120"},
		{"created, ran unseen", ctr(StateCreated, 0, 100, 0), ctr(StateExited, 2, 0, 0), &run{StateExited, 120, 125}, "start:0:s120 die:2:s120"},
		{"exited, same run", ctr(StateExited, 0, 100, 0), ctr(StateExited, 0, 0, 0), &run{StateExited, 90, 95}, ""},
		{"unknown mark: states only", ctr(StateRunning, 0, 0, 0), ctr(StateRunning, 0, 0, 0), &run{StateRunning, 150, 140}, ""},
		{"changed after the list: states only", ctr(StateRunning, 0, 100, 0), ctr(StateExited, 1, 0, 0), &run{StateRunning, 150, 140}, "die:1:m100"},
		{"run after the cutoff: states only", ctr(StateExited, 0, 100, 0), ctr(StateExited, 1, 0, 0), &run{StateExited, 1001, 1002}, ""},
		{"paused", ctr(StateRunning, 0, 100, 0), ctr(StatePaused, 0, 0, 0), &run{StatePaused, 90, 0}, "pause:0:m100"},
		{"unpaused", ctr(StatePaused, 0, 100, 0), ctr(StateRunning, 0, 0, 0), nil, "unpause:0:m100"},
		{"no mark, no inspect: the newest event seen", ctr(StatePaused, 0, 0, 0), ctr(StateRunning, 0, 0, 0), nil, "unpause:0:l999"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ts := synthesizeRuns(tt.prev, tt.cur, tt.r, cutoff, seen)
			parts := make([]string, 0, len(ts))
			for _, tr := range ts {
				parts = append(parts, fmt.Sprintf("%s:%d:%c%d", tr.action, tr.c.ExitCode, tr.kind, tr.value))
				if tr.c.ID != "c" || tr.c.Labels == nil {
					t.Errorf("transition %s carries container %+v", tr.action, tr.c)
				}
			}
			if got := strings.Join(parts, " "); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
			// The last transition leaves the container as listed.
			if n := len(ts); n > 0 && ts[n-1].c != tt.cur {
				t.Errorf("the last transition's container is not the listed one")
			}
		})
	}
}

func TestSyntheticID(t *testing.T) {
	id := syntheticID("e1", "c1", "die", basisStarted, 1700000000123456789)
	tests := []struct {
		name                string
		engine, ctr, action string
		kind                byte
		value               int64
		same                bool
	}{
		{"same inputs", "e1", "c1", "die", basisStarted, 1700000000123456789, true},
		{"another run (a restart)", "e1", "c1", "die", basisStarted, 1700000000999999999, false},
		{"another action", "e1", "c1", "start", basisStarted, 1700000000123456789, false},
		{"another container", "e1", "c2", "die", basisStarted, 1700000000123456789, false},
		{"another engine", "e2", "c1", "die", basisStarted, 1700000000123456789, false},
		{"another basis", "e1", "c1", "die", basisMark, 1700000000123456789, false},
	}
	for _, tt := range tests {
		got := syntheticID(tt.engine, tt.ctr, tt.action, tt.kind, tt.value)
		if (got == id) != tt.same {
			t.Errorf("%s: syntheticID = %s, first %s: same = %v, want %v", tt.name, got, id, got == id, tt.same)
		}
	}
	// Never the ID of a real event, whatever its time.
	if id == MakeID("e1", 1700000000123456789, "c1", "die", false) || id == MakeID("e1", 1700000000123456789, "c1", "die", true) {
		t.Error("a synthesized transition has a real event's ID")
	}
}
