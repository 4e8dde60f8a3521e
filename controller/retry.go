package controller

import (
	"math/rand/v2"
	"slices"
	"sync"
	"time"

	"k8s.io/client-go/util/workqueue"

	"github.com/samalba/docker-eventsd/config"
)

// jitterFraction spreads each retry delay uniformly over ±20% of the computed
// backoff, so that handlers that failed together (an engine_down fanned out to
// many rules, a flapping dependency) do not all retry in the same instant.
const jitterFraction = 0.2

// retryPolicy is how the failed command of a rule is tried again: the one
// retry policy of the daemon's handlers. Event rules' deliveries ask it
// through the workqueue's rate limiter (ruleRateLimiter), state rules' runs
// ask it directly (stateMachine.failed); both count attempts the same way and
// wait the same backoff.
//
// It is a rule's config.Retry with the zero fields of a hand-built config set
// to the defaults the config loader applies.
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

// exhausted reports whether failures failed attempts are all the policy
// allows: max_attempts counts the first run too.
func (p retryPolicy) exhausted(failures int) bool { return failures >= p.maxAttempts }

// delay returns the wait after failures (>= 1) failed attempts, before
// attempt n = failures+1: min(backoff * 2^(n-2), max_backoff), as
// config.Retry says, without jitter.
func (p retryPolicy) delay(failures int) time.Duration {
	d := p.backoff
	for i := 1; i < failures && d < p.maxBackoff; i++ {
		if d > p.maxBackoff/2 {
			return p.maxBackoff // doubling would pass the cap, or overflow
		}
		d *= 2
	}
	return min(d, p.maxBackoff)
}

// wait returns delay(failures) jittered by ±jitterFraction, never more than
// max_backoff.
func (p retryPolicy) wait(failures int) time.Duration {
	return jitter(p.delay(failures), jitterFraction, p.maxBackoff)
}

// ruleRateLimiter is the workqueue's rate limiter: it counts the failures of
// each key (When, NumRequeues, Forget) and asks the policy of the key's rule
// how long the key waits, so that a delivery backs off exactly as a state
// rule's run does.
type ruleRateLimiter struct {
	policies []retryPolicy

	mu sync.Mutex
	// failures counts the failures of each key since it was last forgotten.
	failures map[Key]int
}

var _ workqueue.TypedRateLimiter[Key] = (*ruleRateLimiter)(nil)

// newRuleRateLimiter makes a limiter for rules, indexed like them.
func newRuleRateLimiter(policies []retryPolicy) *ruleRateLimiter {
	return &ruleRateLimiter{policies: slices.Clone(policies), failures: make(map[Key]int)}
}

// When records a failure of k and returns how long k should wait.
func (l *ruleRateLimiter) When(k Key) time.Duration {
	l.mu.Lock()
	l.failures[k]++
	n := l.failures[k]
	p := l.policies[k.Rule]
	l.mu.Unlock()
	return p.wait(n)
}

// setPolicies replaces the policies, indexed like Key.Rule (a reload).
func (l *ruleRateLimiter) setPolicies(policies []retryPolicy) {
	l.mu.Lock()
	l.policies = slices.Clone(policies)
	l.mu.Unlock()
}

// Forget clears the failures of k.
func (l *ruleRateLimiter) Forget(k Key) {
	l.mu.Lock()
	delete(l.failures, k)
	l.mu.Unlock()
}

// NumRequeues returns the failures of k since it was last forgotten.
func (l *ruleRateLimiter) NumRequeues(k Key) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.failures[k]
}

// jitter returns d moved by a uniform random fraction of at most ±fraction,
// capped at limit.
func jitter(d time.Duration, fraction float64, limit time.Duration) time.Duration {
	if d <= 0 || fraction <= 0 {
		return d
	}
	f := float64(d) * (1 + fraction*(2*rand.Float64()-1))
	if f >= float64(limit) {
		return limit // compared as floats: near the largest duration the product overflows one
	}
	return time.Duration(f)
}
