package controller

import (
	"math"
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

func TestRetryPolicyDelayDoublesUpToTheCap(t *testing.T) {
	tests := []struct {
		name     string
		p        retryPolicy
		failures int
		want     time.Duration
	}{
		{"second attempt waits the backoff", retryPolicy{5, 10 * time.Millisecond, 35 * time.Millisecond}, 1, 10 * time.Millisecond},
		{"third attempt waits twice the backoff", retryPolicy{5, 10 * time.Millisecond, 35 * time.Millisecond}, 2, 20 * time.Millisecond},
		{"doubling past the cap waits the cap", retryPolicy{5, 10 * time.Millisecond, 35 * time.Millisecond}, 3, 35 * time.Millisecond},
		{"later attempts wait the cap", retryPolicy{5, 10 * time.Millisecond, 35 * time.Millisecond}, 40, 35 * time.Millisecond},
		{"backoff equal to the cap", retryPolicy{3, time.Second, time.Second}, 2, time.Second},
		{"no overflow near the largest duration", retryPolicy{3, time.Hour, time.Duration(math.MaxInt64)}, 1000, time.Duration(math.MaxInt64)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.p.delay(tt.failures); got != tt.want {
				t.Errorf("delay(%d) = %v, want %v", tt.failures, got, tt.want)
			}
			if got := tt.p.wait(tt.failures); got < tt.want*8/10 || got > tt.p.maxBackoff {
				t.Errorf("wait(%d) = %v, want %v -20%%, capped at %v", tt.failures, got, tt.want, tt.p.maxBackoff)
			}
		})
	}
}

func TestStateRuleRetriesFollowTheRulePolicyLikeEventRules(t *testing.T) {
	p := retryPolicy{maxAttempts: 4, backoff: 10 * time.Millisecond, maxBackoff: 35 * time.Millisecond}
	m := &stateMachine{rule: &stateRule{cfg: &config.StateRule{}, retry: p}, target: &snapshot{hash: "h"}}
	l := newRuleRateLimiter([]retryPolicy{p})
	k := Key{Rule: 0, Engine: "e", Container: "a"}
	now := time.Unix(1000, 0)
	for failures := 1; failures < p.maxAttempts; failures++ {
		want := p.delay(failures)
		wait, giveUp := m.failed(now)
		if giveUp || wait < want*8/10 || wait > min(want*12/10, p.maxBackoff) {
			t.Fatalf("state rule failure %d: wait %v, give up %v; want %v ±20%%", failures, wait, giveUp, want)
		}
		if d := l.When(k); d < want*8/10 || d > min(want*12/10, p.maxBackoff) {
			t.Fatalf("event rule failure %d: wait %v, want %v ±20%% like the state rule", failures, d, want)
		}
		if !m.retryAt.Equal(now.Add(wait)) {
			t.Errorf("retryAt = %v, want now + %v", m.retryAt, wait)
		}
	}
	if _, giveUp := m.failed(now); !giveUp || m.target != nil || m.attempts != 0 {
		t.Errorf("failure %d: give up %v, target %v, attempts %d; want given up after max_attempts", p.maxAttempts, giveUp, m.target, m.attempts)
	}
	if !p.exhausted(l.NumRequeues(k) + 1) {
		t.Errorf("the event rule's policy allows attempt %d of %d", l.NumRequeues(k)+2, p.maxAttempts)
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
