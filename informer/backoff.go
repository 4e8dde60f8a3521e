package informer

import (
	"time"

	"github.com/cenkalti/backoff/v5"
)

// backoffJitter is the randomization of each reconnect wait: a wait is drawn
// between (1 - backoffJitter) and (1 + backoffJitter) times the current
// interval, so that engines that failed together are not retried together.
const backoffJitter = 0.5

// reconnectBackoff is the wait between two sessions of an engine: from min,
// doubling, jittered, and never longer than max. The exponential backoff of
// cenkalti/backoff caps its interval before adding the jitter (a cap of 1s
// gives waits of up to 1.5s): the interval is capped at max/(1+jitter) here,
// so that the jittered wait is at most max, and clipped to max against
// rounding (and when min is above that interval).
type reconnectBackoff struct {
	bo  backoff.ExponentialBackOff
	max time.Duration
}

func newReconnectBackoff(minWait, maxWait time.Duration) *reconnectBackoff {
	b := &reconnectBackoff{
		bo: backoff.ExponentialBackOff{
			InitialInterval:     minWait,
			RandomizationFactor: backoffJitter,
			Multiplier:          2,
			MaxInterval:         time.Duration(float64(maxWait) / (1 + backoffJitter)),
		},
		max: maxWait,
	}
	b.bo.Reset()
	return b
}

// Next returns the wait before the next session.
func (b *reconnectBackoff) Next() time.Duration { return min(b.bo.NextBackOff(), b.max) }

// Reset starts again from min, after a healthy session.
func (b *reconnectBackoff) Reset() { b.bo.Reset() }
