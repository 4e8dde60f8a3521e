package config

import (
	"slices"
	"testing"
)

func TestOnFailureAndPermanentExitCodesAreRead(t *testing.T) {
	cfg := mustParse(t, cluster2+`  - type: die
    command: promote
    on_failure: page-oncall
    retry: {max_attempts: 4, permanent_exit_codes: [2, 3, 2]}
`)
	r := cfg.Rules[0]
	if r.OnFailure != "page-oncall" {
		t.Errorf("OnFailure = %q, want page-oncall", r.OnFailure)
	}
	if !slices.Equal(r.Retry.PermanentExitCodes, []int{2, 3}) || r.Retry.MaxAttempts != 4 {
		t.Errorf("Retry = %+v, want permanent exit codes [2 3] and 4 attempts", r.Retry)
	}
	if r.Retry.PermanentPos != (Pos{Line: 8, Col: 30}) {
		t.Errorf("PermanentPos = %+v, want 8:30", r.Retry.PermanentPos)
	}
}

func TestOnFailureAndPermanentExitCodesErrors(t *testing.T) {
	for _, tt := range []oneError{
		{"on_failure without command", cluster2 + "  - type: die\n    log: x\n    on_failure: page\n", 7, 5, "events[0].on_failure", "needs a command"},
		{"permanent without command", cluster2 + "  - type: die\n    log: x\n    retry:\n      permanent_exit_codes: [2]\n", 8, 7, "events[0].retry.permanent_exit_codes", "needs a command"},
		{"permanent zero", cluster2 + "  - type: die\n    command: x\n    retry: {permanent_exit_codes: [0, 2]}\n", 7, 35, "events[0].retry.permanent_exit_codes", "0 is success"},
		{"permanent out of range", cluster2 + "  - type: die\n    command: x\n    retry: {permanent_exit_codes: 256}\n", 7, 35, "events[0].retry.permanent_exit_codes", "out of range"},
		{"on_failure not a string", cluster2 + "  - type: die\n    command: x\n    on_failure: [a]\n", 7, 17, "events[0].on_failure", "expected"},
		{"permanent in a state rule", "cluster:\n  foo: tcp://127.0.0.1:2375\nstate:\n  - command: x\n    retry: {permanent_exit_codes: [2]}\n", 5, 13, "state[0].retry.permanent_exit_codes", "is for event rules"},
		{"on_failure in a state rule", "cluster:\n  foo: tcp://127.0.0.1:2375\nstate:\n  - command: x\n    on_failure: y\n", 5, 5, "state[0].on_failure", "unknown field"},
	} {
		t.Run(tt.name, func(t *testing.T) { checkOneError(t, tt) })
	}
}
