package fakeengine

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Mix weighs the operations of the load generator. Each operation picks a
// container at random and emits what dockerd would, keeping the container's
// state coherent: an operation that does not apply to the container's state
// (kill of a stopped container) starts it instead.
type Mix struct {
	// Start: a stopped container starts (start).
	Start float64
	// Die: a running container's process exits with 0 (die).
	Die float64
	// Kill: a running container gets SIGUSR1, which it ignores (kill).
	Kill float64
	// Health: a running container's health flips between healthy and
	// unhealthy (health_status: ...).
	Health float64
	// Exec: a health check or exec runs in a running container: three events
	// (exec_create, exec_start, exec_die), the noise a server-side filter
	// removes.
	Exec float64
}

// DefaultMix is a cluster where most events are cheap: kills, health changes
// and exec noise, with some containers stopping and starting.
var DefaultMix = Mix{Start: 1, Die: 1, Kill: 4, Health: 2, Exec: 2}

// ParseMix reads "start=1,die=1,kill=1,health_status=1,exec=1" (health is
// accepted for health_status; missing operations weigh 0).
func ParseMix(s string) (Mix, error) {
	var m Mix
	for _, kv := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(kv), "=")
		if !ok {
			return m, fmt.Errorf("mix %q: want op=weight,...", s)
		}
		w, err := strconv.ParseFloat(v, 64)
		if err != nil || w < 0 {
			return m, fmt.Errorf("mix %q: weight of %s: want a number >= 0", s, k)
		}
		switch k {
		case "start":
			m.Start = w
		case "die":
			m.Die = w
		case "kill":
			m.Kill = w
		case "health_status", "health":
			m.Health = w
		case "exec":
			m.Exec = w
		default:
			return m, fmt.Errorf("mix %q: unknown operation %q (start, die, kill, health_status, exec)", s, k)
		}
	}
	if m.Start+m.Die+m.Kill+m.Health+m.Exec <= 0 {
		return m, fmt.Errorf("mix %q: all weights are 0", s)
	}
	return m, nil
}

// String renders the mix as ParseMix reads it.
func (m Mix) String() string {
	return fmt.Sprintf("start=%g,die=%g,kill=%g,health_status=%g,exec=%g", m.Start, m.Die, m.Kill, m.Health, m.Exec)
}

// NoLoadLabel marks a container the load generator leaves alone, whatever
// its value: a benchmark's marker container, whose events must be its own.
const NoLoadLabel = "fakeengine.noload"

// LoadOptions configure the load generator.
type LoadOptions struct {
	// Rate is the events per second emitted by all engines together (an exec
	// operation counts as its three events).
	Rate float64
	// Mix weighs the operations (DefaultMix when zero).
	Mix Mix
	// Duration stops the generator after this long; 0 runs until StopLoad.
	Duration time.Duration
	// Tick is how often each engine emits what is due (default 10ms).
	Tick time.Duration
}

// LoadStats describe the generator.
type LoadStats struct {
	Running bool    `json:"running"`
	Rate    float64 `json:"rate"`
	// Events is how many events the generator emitted in its current or
	// last run; Elapsed how long that run lasted so far.
	Events  int64         `json:"events"`
	Elapsed time.Duration `json:"elapsed"`
}

type loadState struct {
	mu      sync.Mutex
	cancel  context.CancelFunc
	done    chan struct{}
	rate    float64
	started time.Time
	ended   time.Time
	events  atomic.Int64
}

func (l *loadState) stats() LoadStats {
	l.mu.Lock()
	defer l.mu.Unlock()
	st := LoadStats{Rate: l.rate, Events: l.events.Load()}
	if l.done != nil {
		select {
		case <-l.done:
		default:
			st.Running = true
		}
	}
	switch {
	case l.started.IsZero():
	case st.Running:
		st.Elapsed = time.Since(l.started)
	default:
		st.Elapsed = l.ended.Sub(l.started)
	}
	return st
}

// StartLoad starts the generator (stopping a previous run): every engine
// emits Rate/Engines events per second over its containers.
func (s *Server) StartLoad(o LoadOptions) {
	s.StopLoad()
	if o.Mix == (Mix{}) {
		o.Mix = DefaultMix
	}
	if o.Tick <= 0 {
		o.Tick = 10 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(context.Background())
	if o.Duration > 0 {
		ctx, cancel = context.WithTimeout(context.Background(), o.Duration)
	}
	l := &s.load
	l.mu.Lock()
	l.cancel, l.done, l.rate, l.started = cancel, make(chan struct{}), o.Rate, time.Now()
	l.events.Store(0)
	done := l.done
	l.mu.Unlock()

	per := o.Rate / float64(len(s.eps))
	var wg sync.WaitGroup
	for i, ep := range s.eps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ep.engine.generate(ctx, per, o.Mix, o.Tick, uint64(i), &l.events)
		}()
	}
	go func() {
		wg.Wait()
		l.mu.Lock()
		l.ended = time.Now()
		l.mu.Unlock()
		close(done)
	}()
}

// StopLoad stops the generator and waits for it.
func (s *Server) StopLoad() {
	l := &s.load
	l.mu.Lock()
	cancel, done := l.cancel, l.done
	l.mu.Unlock()
	if cancel != nil {
		cancel()
		<-done
	}
}

// WaitLoad waits until the generator's run ends (its Duration).
func (s *Server) WaitLoad() {
	s.load.mu.Lock()
	done := s.load.done
	s.load.mu.Unlock()
	if done != nil {
		<-done
	}
}

// generate emits rate events per second on e until ctx ends.
func (e *Engine) generate(ctx context.Context, rate float64, mix Mix, tick time.Duration, seed uint64, total *atomic.Int64) {
	e.mu.Lock()
	cs := make([]*container, 0, len(e.containers))
	for _, c := range e.containers {
		if _, skip := c.labels[NoLoadLabel]; !skip {
			cs = append(cs, c)
		}
	}
	e.mu.Unlock()
	if len(cs) == 0 || rate <= 0 {
		return
	}
	sort.Slice(cs, func(i, j int) bool { return cs[i].id < cs[j].id })
	rng := rand.New(rand.NewPCG(seed, uint64(time.Now().UnixNano())))
	weights := []float64{mix.Start, mix.Die, mix.Kill, mix.Health, mix.Exec}
	var sum float64
	for _, w := range weights {
		sum += w
	}
	// Start at a random phase so that engines do not all emit at once.
	t := time.NewTimer(time.Duration(rng.Int64N(int64(tick))))
	defer t.Stop()
	start := time.Now()
	var emitted int64
	maxBurst := int64(rate*tick.Seconds()*10) + 1
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		t.Reset(tick)
		due := int64(rate*time.Since(start).Seconds()) - emitted
		if due > maxBurst {
			// Behind (a slow subscriber held the publisher): do not burst;
			// the shortfall shows in the events emitted.
			emitted += due - maxBurst
			due = maxBurst
		}
		if due <= 0 {
			continue
		}
		e.mu.Lock()
		var n int64
		for n < due && ctx.Err() == nil {
			c := cs[rng.IntN(len(cs))]
			x := rng.Float64() * sum
			op := 0
			for op < len(weights)-1 && x >= weights[op] {
				x -= weights[op]
				op++
			}
			n += int64(e.genOp(c, op))
		}
		e.mu.Unlock()
		emitted += n
		total.Add(n)
	}
}

// genOp applies one generated operation to c and returns how many events it
// emitted. The caller holds e.mu.
func (e *Engine) genOp(c *container, op int) int {
	running := c.state == stateRunning
	if c.state == statePaused {
		return 0
	}
	if !running || op == 0 {
		if running {
			return e.genOp(c, 1) // start of a running container: it dies
		}
		c.state, c.startedAt, c.exitCode = stateRunning, time.Now().UTC(), 0
		e.changed()
		return e.emitTemplate(c, "start", "start", nil)
	}
	switch op {
	case 1:
		c.state, c.finishedAt, c.exitCode = stateExited, time.Now().UTC(), 0
		e.changed()
		return e.emitTemplate(c, "die0", "die", map[string]string{"exitCode": "0"})
	case 2:
		return e.emitTemplate(c, "kill10", "kill", map[string]string{"signal": "10"})
	case 3:
		if c.health == nil {
			c.health = &health{}
		}
		next := "unhealthy"
		if c.health.status == "unhealthy" {
			next = "healthy"
		}
		c.health.status = next
		e.changed()
		return e.emitTemplate(c, "health:"+next, "health_status: "+next, nil)
	default:
		id := map[string]string{"execID": c.id}
		e.emitTemplate(c, "exec_create", "exec_create: /bin/sh -c true", id)
		e.emitTemplate(c, "exec_start", "exec_start: /bin/sh -c true", id)
		e.emitTemplate(c, "exec_die", "exec_die", map[string]string{"execID": c.id, "exitCode": "0"})
		return 3
	}
}
