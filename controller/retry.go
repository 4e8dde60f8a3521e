package controller

import (
	"math/rand/v2"
	"time"

	"k8s.io/client-go/util/workqueue"

	"github.com/samalba/docker-eventsd/config"
)

// jitterFraction spreads each retry delay uniformly over ±20% of the computed
// backoff, so that handlers that failed together (an engine_down fanned out to
// many rules, a flapping dependency) do not all retry in the same instant.
const jitterFraction = 0.2

// retryPolicy is a rule's Retry with the zero fields of a hand-built config
// set to the defaults the config loader applies.
type retryPolicy struct {
	maxAttempts int
	backoff     time.Duration
	maxBackoff  time.Duration
}

// newRetryPolicy fills in the defaults of r.
func newRetryPolicy(r config.Retry) retryPolicy {
	p := retryPolicy{maxAttempts: r.MaxAttempts, backoff: r.Backoff, maxBackoff: r.MaxBackoff}
	if p.maxAttempts <= 0 {
		p.maxAttempts = config.DefaultMaxAttempts
	}
	if p.backoff <= 0 {
		p.backoff = config.DefaultBackoff
	}
	if p.maxBackoff <= 0 {
		p.maxBackoff = max(config.DefaultMaxBackoff, p.backoff)
	}
	return p
}

// ruleRateLimiter is the workqueue's rate limiter. It keeps one
// exponential-failure limiter per rule, because each rule has its own backoff,
// and delegates to the one of the key's rule: the library counts the failures
// of each key (When, NumRequeues) and clears them (Forget).
//
// The n-th failure of a key's head delivery gives min(Backoff*2^(n-1),
// MaxBackoff), so attempt n >= 2 waits min(Backoff*2^(n-2), MaxBackoff) as
// config.Retry says, then jittered by ±20%, and never more than MaxBackoff.
type ruleRateLimiter struct {
	rules []jitteredRateLimiter
}

var _ workqueue.TypedRateLimiter[Key] = (*ruleRateLimiter)(nil)

// newRuleRateLimiter makes a limiter for rules, indexed like them.
func newRuleRateLimiter(policies []retryPolicy) *ruleRateLimiter {
	l := &ruleRateLimiter{rules: make([]jitteredRateLimiter, len(policies))}
	for i, p := range policies {
		l.rules[i] = jitteredRateLimiter{
			TypedRateLimiter: workqueue.NewTypedItemExponentialFailureRateLimiter[Key](p.backoff, p.maxBackoff),
			fraction:         jitterFraction,
			max:              p.maxBackoff,
		}
	}
	return l
}

// When records a failure of k and returns how long k should wait.
func (l *ruleRateLimiter) When(k Key) time.Duration { return l.rules[k.Rule].When(k) }

// Forget clears the failures of k.
func (l *ruleRateLimiter) Forget(k Key) { l.rules[k.Rule].Forget(k) }

// NumRequeues returns the failures of k since it was last forgotten.
func (l *ruleRateLimiter) NumRequeues(k Key) int { return l.rules[k.Rule].NumRequeues(k) }

// jitteredRateLimiter spreads the delays of a limiter uniformly over
// [d*(1-fraction), d*(1+fraction)), capped at max.
type jitteredRateLimiter struct {
	workqueue.TypedRateLimiter[Key]
	fraction float64
	max      time.Duration
}

// When returns the jittered delay of the wrapped limiter.
func (j jitteredRateLimiter) When(k Key) time.Duration {
	return jitter(j.TypedRateLimiter.When(k), j.fraction, j.max)
}

// jitter returns d moved by a uniform random fraction of at most ±fraction,
// capped at limit.
func jitter(d time.Duration, fraction float64, limit time.Duration) time.Duration {
	if d <= 0 || fraction <= 0 {
		return d
	}
	f := 1 + fraction*(2*rand.Float64()-1)
	return min(time.Duration(float64(d)*f), limit)
}
