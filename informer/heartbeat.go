package informer

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/moby/moby/client"
)

// errHeartbeat marks a session ended by a failed ping.
var errHeartbeat = errors.New("heartbeat failed")

// alive pings the engine once: a stream that ended on a healthy engine (a proxy that
// cuts long responses) is not an outage.
func (inf *Informer) alive(ctx context.Context) bool {
	pctx, cancel := context.WithTimeout(ctx, inf.opts.HeartbeatTimeout)
	defer cancel()
	_, err := inf.opts.Client.Ping(pctx, client.PingOptions{})
	return err == nil
}

// pingPeriod is how long the engine may be quiet before the heartbeat pings it:
// Heartbeat - HeartbeatTimeout, so that a ping that times out ends by Heartbeat
// after the last sign of life; at least Heartbeat/pingsPerHeartbeat.
func (inf *Informer) pingPeriod() time.Duration {
	return max(inf.opts.Heartbeat-inf.opts.HeartbeatTimeout, inf.opts.Heartbeat/pingsPerHeartbeat)
}

// heartbeat ends the session (cancel, with errHeartbeat) when the engine gave no
// sign of life for Heartbeat: it pings the engine whenever it has been quiet for
// pingPeriod, and a ping that fails, or does not answer within HeartbeatTimeout,
// ends the session, unless an event came meanwhile. Every event the stream
// delivers is a sign of life (read marks it): a busy engine is not pinged at all.
func (inf *Informer) heartbeat(ctx context.Context, cancel context.CancelCauseFunc, life *liveness) {
	period := inf.pingPeriod()
	t := time.NewTimer(period)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if quiet := life.quiet(); quiet < period {
			t.Reset(period - quiet)
			continue
		}
		sent := life.now()
		pctx, pcancel := context.WithTimeout(ctx, inf.opts.HeartbeatTimeout)
		_, err := inf.opts.Client.Ping(pctx, client.PingOptions{})
		pcancel()
		if ctx.Err() != nil {
			return
		}
		if err != nil && life.last() <= sent {
			cancel(fmt.Errorf("%w: %w", errHeartbeat, err))
			return
		}
		if err == nil {
			life.mark()
		}
		t.Reset(max(period-life.quiet(), 0))
	}
}

// liveness is when the engine last gave a sign of life, on the monotonic clock.
// The reader goroutine marks every event; the heartbeat every answered ping.
type liveness struct {
	base time.Time
	at   atomic.Int64 // since base
}

func newLiveness() *liveness {
	return &liveness{base: time.Now()}
}

// now returns the time since base.
func (l *liveness) now() time.Duration { return time.Since(l.base) }

// mark records a sign of life now.
func (l *liveness) mark() { l.at.Store(int64(l.now())) }

// last returns when the last sign of life came (since base).
func (l *liveness) last() time.Duration { return time.Duration(l.at.Load()) }

// quiet returns how long ago the last sign of life came.
func (l *liveness) quiet() time.Duration { return l.now() - l.last() }
