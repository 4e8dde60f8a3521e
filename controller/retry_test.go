package controller

import (
	"testing"
	"time"

	"github.com/samalba/docker-eventsd/config"
)

func TestRetryPolicyDefaults(t *testing.T) {
	tests := []struct {
		in   config.Retry
		want retryPolicy
	}{
		{config.Retry{}, retryPolicy{config.DefaultMaxAttempts, config.DefaultBackoff, config.DefaultMaxBackoff}},
		{config.Retry{MaxAttempts: 1, Backoff: time.Millisecond, MaxBackoff: time.Second}, retryPolicy{1, time.Millisecond, time.Second}},
		{config.Retry{Backoff: 2 * time.Hour}, retryPolicy{config.DefaultMaxAttempts, 2 * time.Hour, 2 * time.Hour}},
	}
	for _, tt := range tests {
		if got := newRetryPolicy(tt.in); got != tt.want {
			t.Errorf("newRetryPolicy(%+v) = %+v, want %+v", tt.in, got, tt.want)
		}
	}
}

func TestJitterStaysWithinTwentyPercentAndTheCap(t *testing.T) {
	const d = 100 * time.Millisecond
	lo, hi := d, d
	for range 2000 {
		got := jitter(d, jitterFraction, time.Hour)
		lo, hi = min(lo, got), max(hi, got)
		if got < 80*time.Millisecond || got >= 120*time.Millisecond {
			t.Fatalf("jitter(%v) = %v, want within [80ms, 120ms)", d, got)
		}
		if capped := jitter(d, jitterFraction, d); capped > d {
			t.Fatalf("jitter capped at %v = %v", d, capped)
		}
	}
	if lo > 85*time.Millisecond || hi < 115*time.Millisecond {
		t.Errorf("2000 jittered delays span [%v, %v]: not spread over ±20%%", lo, hi)
	}
	if got := jitter(0, jitterFraction, time.Hour); got != 0 {
		t.Errorf("jitter(0) = %v", got)
	}
}

func TestRuleRateLimiterBacksOffPerRuleAndKey(t *testing.T) {
	l := newRuleRateLimiter([]retryPolicy{
		{maxAttempts: 5, backoff: 10 * time.Millisecond, maxBackoff: 35 * time.Millisecond},
		{maxAttempts: 5, backoff: time.Second, maxBackoff: time.Minute},
	})
	a := Key{Rule: 0, Engine: "e", Container: "a"}
	b := Key{Rule: 0, Engine: "e", Container: "b"}
	other := Key{Rule: 1, Engine: "e", Container: "a"}
	within := func(got, want time.Duration) bool {
		return got >= want*8/10 && got <= min(want*12/10, 35*time.Millisecond)
	}
	for i, want := range []time.Duration{10, 20, 35, 35} {
		want *= time.Millisecond
		if got := l.When(a); !within(got, want) {
			t.Errorf("failure %d of a: %v, want %v ±20%% capped at 35ms", i+1, got, want)
		}
	}
	if n := l.NumRequeues(a); n != 4 {
		t.Errorf("NumRequeues(a) = %d, want 4", n)
	}
	if got := l.When(b); !within(got, 10*time.Millisecond) {
		t.Errorf("first failure of b: %v, want 10ms ±20%%: keys back off on their own", got)
	}
	if got := l.When(other); got < 800*time.Millisecond || got > 1200*time.Millisecond {
		t.Errorf("first failure of rule 1: %v, want its own 1s backoff", got)
	}
	l.Forget(a)
	if n := l.NumRequeues(a); n != 0 {
		t.Errorf("NumRequeues(a) after Forget = %d", n)
	}
	if got := l.When(a); !within(got, 10*time.Millisecond) {
		t.Errorf("failure after Forget: %v, want the base 10ms again", got)
	}
}
