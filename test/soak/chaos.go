package soak

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log"
	"math/rand"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"

	"github.com/samalba/docker-eventsd/internal/fakeengine"
	"github.com/samalba/docker-eventsd/internal/faultproxy"
)

// The rules of the chaos soak. Each records the start, die and destroy events
// it completes; flaky fails a quarter of its attempts, slow sleeps past its
// 1 s timeout in one attempt out of twelve. Both are retried.
var ledgerRules = []string{"record", "flaky", "slow"}

// recordCmd appends one ledger line, under an exclusive lock of the file,
// with the time it was written (DONE).
func recordCmd(status string) string {
	return `{ flock -x 9; printf '%s %s %s %s %s %s %s %s %s %s ` + status + `\n' "$EVENTSD_RULE" "$EVENT_ID" "$EVENT_ACTION" "${CONTAINER_ID:--}" "$FROM_ENGINE" "$EVENT_SYNTHETIC" "$EVENT_ATTEMPT" "$SOAK_RUN" "$EVENT_TIME" "$(date -u +%Y-%m-%dT%H:%M:%S.%NZ)" >&9; } 9>>"$SOAK_LEDGER"`
}

// fakePrefix names the fake engines of -fakes: fake0, fake1, ...
const fakePrefix = "fake"

// fakeContainers is how many running containers each fake engine has.
const fakeContainers = 20

// chaosConfig is the daemon's events.yml for the chaos soak. fakes are the
// URLs of the fake engines (no proxy), named fake0, fake1, ...
func chaosConfig(proxies map[string]string, names []string, fakes []string, runID string) string {
	var b strings.Builder
	b.WriteString("cluster:\n")
	for _, n := range names {
		fmt.Fprintf(&b, "  %s: %s\n", n, proxies[n])
	}
	for i, u := range fakes {
		fmt.Fprintf(&b, "  %s%d: %s\n", fakePrefix, i, u)
	}
	rand8 := `r=$(od -An -N1 -tu1 /dev/urandom)`
	fmt.Fprintf(&b, `events:
  - name: record
    type: [start, die, destroy]
    labels: {eventsd-soak: %[1]q}
    retry: {max_attempts: 30, backoff: 100ms, max_backoff: 1s}
    command: |
      %[2]s
  - name: flaky
    type: [start, die, destroy]
    labels: {eventsd-soak: %[1]q}
    retry: {max_attempts: 30, backoff: 100ms, max_backoff: 1s}
    command: |
      %[4]s
      if [ $((r)) -lt 64 ]; then %[3]s; exit 1; fi
      %[2]s
  - name: slow
    type: [start, die, destroy]
    labels: {eventsd-soak: %[1]q}
    timeout: 1s
    retry: {max_attempts: 30, backoff: 100ms, max_backoff: 1s}
    command: |
      %[4]s
      if [ $((r)) -lt 21 ]; then sleep 3; fi
      %[2]s
  - name: engines
    type: [engine_down, engine_up]
    command: |
      %[2]s
`, runID, recordCmd("OK"), recordCmd("FAIL"), rand8)
	if len(fakes) > 0 {
		// Volume: the fake engines' kills are matched and logged, with no
		// command (the workers stay the ledger rules').
		fmt.Fprintf(&b, `  - name: fake-volume
    type: kill
    from_engine: "%s*"
    log: fake engine kill
`, fakePrefix)
	}
	return b.String()
}

// chaosEngine is one engine of the soak, with its proxy and the truth of its
// containers. mu serializes the soak's actions, inspections and kills on it.
type chaosEngine struct {
	name  string
	url   string // direct, for the soak
	cli   *client.Client
	proxy *faultproxy.Proxy

	mu   sync.Mutex
	up   bool
	ctrs []*ctrTruth
	seq  int
}

// engineKill is when an engine was SIGKILLed.
type engineKill struct {
	Engine string    `json:"engine"`
	At     time.Time `json:"at"`
	Back   time.Time `json:"back"` // when it answered again
}

// proxyFault is when an engine's proxy misbehaved.
type proxyFault struct {
	Engine string    `json:"engine"`
	Mode   string    `json:"mode"`
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
}

// daemonRun is one run of the daemon, for the gaps without --state-dir.
type daemonRun struct {
	Started time.Time            `json:"started"`
	Killed  time.Time            `json:"killed,omitempty"`
	Synced  map[string]time.Time `json:"synced"`
}

type chaos struct {
	opts   *Options
	env    *engineEnv
	log    *log.Logger
	runID  string
	ledger string

	rngMu sync.Mutex
	rng   *rand.Rand

	engines []*chaosEngine
	// gate: every fault and action holds it shared; a quiescent moment
	// (before a daemon kill without --state-dir) holds it exclusively.
	gate sync.RWMutex
	d    *daemon

	mu          sync.Mutex
	counts      map[string]int
	runs        []*daemonRun
	engineKills []engineKill
	faults      []proxyFault
	quiesceMiss int // quiescent moments that timed out with transitions undelivered

	// cfgMu is held while the reload storm leaves an invalid config in
	// place (reload.go): a daemon run does not start then.
	cfgMu sync.Mutex

	fakes     *fakeengine.Server // -fakes, or nil
	fakeNames []string
	fakeStats *fakeengine.Stats // when the load stopped
}

// fakeReport is what the fake engines of -fakes saw: volume, outside the
// ledger. Dropped must be 0: an event the daemon's live subscription did not
// take within 100 ms (dockerd's rule) means its reader stalled. A subscription
// closed by a daemon SIGKILL is not a drop.
type fakeReport struct {
	Engines int     `json:"engines"`
	Rate    float64 `json:"rate"`
	Mix     string  `json:"mix"`
	// Emitted counts the events the fake engines published; Queued those
	// handed to the daemon's subscriptions (its filters passed); Written
	// those written to its connections.
	Emitted    int64 `json:"emitted"`
	Queued     int64 `json:"queued"`
	Written    int64 `json:"written"`
	Dropped    int64 `json:"dropped"`
	Streams    int64 `json:"streams"`
	MaxBacklog int64 `json:"maxBacklog"`
	// EngineDown counts the engine_down events of fake engines the daemon
	// reported (they have no faults: a heartbeat lost under load).
	EngineDown int `json:"engineDownEvents"`
}

func (s *chaos) count(what string) {
	s.mu.Lock()
	s.counts[what]++
	s.mu.Unlock()
}

// rarest returns the action of actions done the fewest times so far.
func (s *chaos) rarest(actions []string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	best := actions[0]
	for _, a := range actions[1:] {
		if s.counts[a] < s.counts[best] {
			best = a
		}
	}
	return best
}

func (s *chaos) intn(n int) int {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return s.rng.Intn(n)
}

// jitter returns d scaled by a random factor in [0.5, 1.5).
func (s *chaos) jitter(d time.Duration) time.Duration {
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return time.Duration(float64(d) * (0.5 + s.rng.Float64()))
}

// between returns a random duration in [lo, hi).
func (s *chaos) between(lo, hi time.Duration) time.Duration {
	if hi <= lo {
		return lo
	}
	s.rngMu.Lock()
	defer s.rngMu.Unlock()
	return lo + time.Duration(s.rng.Int63n(int64(hi-lo)))
}

func sleepCtx(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// chaosReport is the JSON report of a chaos soak.
type chaosReport struct {
	Seed        int64                  `json:"seed"`
	Duration    string                 `json:"duration"`
	Engines     []string               `json:"engines"`
	StateDir    bool                   `json:"stateDir"`
	Counts      map[string]int         `json:"counts"`
	Containers  int                    `json:"containers"`
	Transitions map[string]int         `json:"transitions"`
	Rules       map[string]*ruleReport `json:"rules"`
	Total       ruleReport             `json:"total"`
	EngineDown  int                    `json:"engineDownEvents"`
	EngineUp    int                    `json:"engineUpEvents"`
	Fakes       *fakeReport            `json:"fakes,omitempty"`
	Reloads     *reloadReport          `json:"reloads,omitempty"`
	DaemonRuns  []*daemonRun           `json:"daemonRuns"`
	EngineKills []engineKill           `json:"engineKills"`
	ProxyFaults []proxyFault           `json:"proxyFaults"`
	Windows     []window               `json:"windows"`
	QuiesceMiss int                    `json:"quiesceTimeouts"`
	LogErrors   map[string]int         `json:"daemonErrorLogs"`
	Problems    []problem              `json:"problems,omitempty"`
	Notes       []problem              `json:"crashNotes,omitempty"`
	OK          bool                   `json:"ok"`
}

func runChaos(ctx context.Context, o *Options, logger *log.Logger) (bool, error) {
	env, err := readEngineEnv(o.EnginesDir)
	if err != nil {
		return false, err
	}
	s := &chaos{
		opts: o, env: env, log: logger,
		runID:  fmt.Sprintf("%x", o.Seed&0xffffffff),
		ledger: filepath.Join(o.Work, "ledger.txt"),
		rng:    rand.New(rand.NewSource(o.Seed)),
		counts: map[string]int{},
	}
	_ = os.Remove(s.ledger)
	logger.Printf("seed %d, engines %v, work %s", o.Seed, env.names, o.Work)

	proxies := map[string]string{}
	for _, name := range env.names {
		url := env.urls[name]
		cli, err := client.New(client.WithHost(url), client.WithAPIVersionNegotiation())
		if err != nil {
			return false, err
		}
		p, err := faultproxy.Open(url)
		if err != nil {
			return false, err
		}
		defer p.Close()
		e := &chaosEngine{name: name, url: url, cli: cli, proxy: p, up: true}
		s.engines = append(s.engines, e)
		proxies[name] = p.URL()
		// An engine left down by an earlier soak comes back first.
		if err := env.engineCtl(ctx, "start", name); err != nil {
			return false, err
		}
	}

	var fakeURLs []string
	if o.Fakes > 0 {
		srv, err := fakeengine.NewServer(fakeengine.Options{Engines: o.Fakes, Containers: fakeContainers})
		if err != nil {
			return false, err
		}
		defer srv.Close()
		s.fakes = srv
		fakeURLs = srv.URLs()
		for i := range fakeURLs {
			s.fakeNames = append(s.fakeNames, fmt.Sprintf("%s%d", fakePrefix, i))
		}
		logger.Printf("fake engines %v, %g events/s during the faults", s.fakeNames, o.FakeRate)
	}

	cfgPath := filepath.Join(o.Work, "events.yml")
	if err := os.WriteFile(cfgPath, []byte(chaosConfig(proxies, env.names, fakeURLs, s.runID)), 0o644); err != nil {
		return false, err
	}
	s.d = &daemon{bin: o.DaemonBin, config: cfgPath, work: o.Work, ledger: s.ledger,
		flags: []string{"-v", "0", "--heartbeat", "500ms", "--heartbeat-timeout", "1s", "--max-backoff", "2s",
			"--workers", fmt.Sprint(o.Workers), "--shutdown-timeout", "30s"}}
	if o.StateDir == "auto" && hasFlag(o.DaemonBin, "--state-dir") {
		s.d.stateDir = filepath.Join(o.Work, "state")
	}
	s.d.flags = append(s.d.flags, listenFlags(o.DaemonBin)...)
	logger.Printf("daemon %s, --state-dir: %v", o.DaemonBin, s.d.stateDir != "")

	if err := s.startDaemon(); err != nil {
		return false, err
	}
	defer s.d.signal(syscall.SIGKILL, 10*time.Second)
	if !s.d.waitSynced(append(append([]string{}, env.names...), s.fakeNames...), 60*time.Second) {
		return false, fmt.Errorf("the daemon did not sync every engine within 60s; see %s", o.Work)
	}
	if s.fakes != nil && o.FakeRate > 0 {
		s.fakes.StartLoad(fakeengine.LoadOptions{Rate: o.FakeRate, Mix: fakeengine.DefaultMix})
	}

	// Chaos.
	cctx, cancel := context.WithTimeout(ctx, o.Duration)
	var wg sync.WaitGroup
	var fatalMu sync.Mutex
	var fatal error
	fail := func(err error) {
		fatalMu.Lock()
		if fatal == nil {
			fatal = err
		}
		fatalMu.Unlock()
		cancel()
	}
	for _, e := range s.engines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.actor(cctx, e)
		}()
	}
	if o.EngineKillEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.engineKiller(cctx); err != nil {
				fail(err)
			}
		}()
	}
	if o.FaultEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			s.faulter(cctx)
		}()
	}
	if o.ReloadStorm > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.reloadStorm(cctx, o.ReloadStorm); err != nil {
				fail(err)
			}
		}()
	}
	if o.DaemonKillEvery > 0 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := s.daemonKiller(cctx); err != nil {
				fail(err)
			}
		}()
	}
	wg.Wait()
	cancel()
	if s.fakes != nil {
		s.fakes.StopLoad()
		st := s.fakes.Stats()
		s.fakeStats = &st
		logger.Printf("fake engines: %d events emitted, %d queued for the daemon, %d dropped", st.Emitted, st.Queued, st.Dropped)
	}
	if fatal != nil {
		return false, fatal
	}
	if ctx.Err() != nil {
		return false, ctx.Err()
	}
	logger.Printf("faults stopped: %v", s.snapshotCounts())

	// The end: every engine up and reachable, every container removed, then
	// wait for the handlers.
	for _, e := range s.engines {
		e.proxy.Set(faultproxy.Pass)
	}
	for _, e := range s.engines {
		e.mu.Lock()
		s.reinspect(ctx, e, "final")
		for _, c := range e.ctrs {
			if !c.Gone {
				s.act(ctx, e, c, "remove")
			}
		}
		e.mu.Unlock()
	}
	s.waitDelivered(ctx, o.Settle, true)
	s.d.signal(syscall.SIGTERM, 60*time.Second)
	s.endRun()

	rep := s.report()
	if err := writeJSON(filepath.Join(o.Work, "report.json"), rep); err != nil {
		return false, err
	}
	if err := writeJSON(filepath.Join(o.Work, "truth.json"), s.truth()); err != nil {
		return false, err
	}
	if o.Report != "" {
		if err := writeJSON(o.Report, rep); err != nil {
			return false, err
		}
	}
	s.printReport(rep)
	return rep.OK, nil
}

func (s *chaos) snapshotCounts() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make(map[string]int, len(s.counts))
	for k, v := range s.counts {
		out[k] = v
	}
	return out
}

// startDaemon starts a new run of the daemon.
func (s *chaos) startDaemon() error {
	if err := s.d.start(); err != nil {
		return err
	}
	s.mu.Lock()
	s.runs = append(s.runs, &daemonRun{Started: time.Now()})
	s.mu.Unlock()
	return nil
}

// endRun records the engines the current run synced.
func (s *chaos) endRun() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.runs) > 0 {
		s.runs[len(s.runs)-1].Synced = s.d.syncedAt()
	}
}

// windows returns the documented gaps. Without --state-dir: from each daemon
// kill until the next run synced the engine (or was killed in turn, or the
// end). With --state-dir: from checkpointSlack before a daemon kill until the
// next run synced the engine, when the engine was killed meanwhile (its ring
// went with it, before the daemon could replay what it had not checkpointed).
func (s *chaos) windows() []window {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []window
	for i := 1; i < len(s.runs); i++ {
		prev, cur := s.runs[i-1], s.runs[i]
		synced := cur.Synced
		if i == len(s.runs)-1 {
			synced = s.d.syncedAt()
		}
		for _, e := range s.env.names {
			to, ok := synced[e]
			if !ok {
				to = cur.Killed
				if to.IsZero() {
					to = time.Now()
				}
			}
			if s.d.stateDir == "" {
				out = append(out, window{Engine: e, From: prev.Killed, To: to, Why: "daemon down without --state-dir"})
				continue
			}
			from := prev.Killed.Add(-s.opts.CheckpointSlack)
			for _, k := range s.engineKills {
				if k.Engine == e && !k.At.Before(from) && !k.At.After(to) {
					out = append(out, window{Engine: e, From: from, To: to, Why: "daemon and engine killed before the daemon read back what it had not checkpointed"})
					break
				}
			}
		}
	}
	// An engine killed: the events it had not sent yet are gone with its
	// ring, and a relist only sees what changed. A start and a die (or a
	// die and a start) that the daemon never heard of before the kill are
	// lost by design when the container ends as it was.
	for _, k := range s.engineKills {
		from := k.At.Add(-3 * time.Second)
		for _, f := range s.faults {
			// The daemon hears nothing during a fault and until it reconnects.
			if f.Engine == k.Engine && f.From.Before(k.At) && !f.To.Before(k.At.Add(-5*time.Second)) && f.From.Before(from) {
				from = f.From
			}
		}
		to := time.Now()
		if !k.Back.IsZero() {
			if t, ok := s.d.syncedAfter(k.Engine, k.Back); ok {
				to = t
			}
		}
		out = append(out, window{Engine: k.Engine, From: from, To: to, Pairs: true,
			Why: "engine killed before the daemon heard of these: its ring went with it"})
	}
	return out
}

// kills returns when each run of the daemon was SIGKILLed (zero: it was not).
func (s *chaos) kills() []time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]time.Time, len(s.runs))
	for i, r := range s.runs {
		out[i] = r.Killed
	}
	return out
}

// actor acts on the containers of one engine at random.
func (s *chaos) actor(ctx context.Context, e *chaosEngine) {
	for sleepCtx(ctx, s.jitter(s.opts.ActionEvery)) {
		s.gate.RLock()
		e.mu.Lock()
		if e.up {
			s.randomAction(ctx, e)
		}
		e.mu.Unlock()
		s.gate.RUnlock()
	}
}

func (e *chaosEngine) alive() []*ctrTruth {
	var out []*ctrTruth
	for _, c := range e.ctrs {
		if !c.Gone {
			out = append(out, c)
		}
	}
	return out
}

// randomAction makes one action on the engine; e.mu is held.
func (s *chaos) randomAction(ctx context.Context, e *chaosEngine) {
	alive := e.alive()
	if len(alive) < s.opts.MinCtrs {
		s.act(ctx, e, nil, "run")
		return
	}
	actions := []string{"run", "create", "start", "start", "kill", "kill", "stop", "restart", "restart", "rename", "pause", "remove"}
	if len(alive) >= s.opts.MaxCtrs {
		actions = []string{"start", "kill", "stop", "restart", "rename", "pause", "remove", "remove", "remove"}
	}
	action := actions[s.intn(len(actions))]
	if s.intn(3) == 0 {
		// One action in three is the rarest so far of those the soak must
		// show: on a slow machine few actions fit in a short run, and a
		// random draw alone can leave one out.
		action = s.rarest(actions)
	}
	if action == "run" || action == "create" {
		s.act(ctx, e, nil, action)
		return
	}
	c := alive[s.intn(len(alive))]
	if !c.known {
		// The last inspection failed: learn the state first.
		if !s.inspect(ctx, e, c, time.Now(), "inspect after a failed one") {
			return
		}
	}
	switch {
	case action == "start" && c.last.Running:
		action = "kill"
	case (action == "kill" || action == "stop" || action == "pause") && !c.last.Running:
		action = "start"
	case action == "pause" && c.last.Paused:
		action = "unpause"
	}
	s.act(ctx, e, c, action)
}

// act makes an action on the engine (on c, or a new container for run and
// create), then inspects the container to learn what it did. e.mu is held.
func (s *chaos) act(ctx context.Context, e *chaosEngine, c *ctrTruth, action string) {
	actx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	since := time.Now()
	var err error
	switch action {
	case "run", "create":
		e.seq++
		name := fmt.Sprintf("soak-%s-%s%d", s.runID, e.name, e.seq)
		var res client.ContainerCreateResult
		res, err = e.cli.ContainerCreate(actx, client.ContainerCreateOptions{
			Name: name,
			Config: &container.Config{Image: s.env.image, Cmd: []string{"sleep", "100000"},
				Labels: map[string]string{"eventsd-soak": s.runID}},
			HostConfig: &container.HostConfig{NetworkMode: "none"},
		})
		if err != nil {
			s.count("action errors")
			s.discover(ctx, e)
			return
		}
		c = &ctrTruth{Engine: e.name, ID: res.ID, Name: name}
		e.ctrs = append(e.ctrs, c)
		if action == "run" {
			_, err = e.cli.ContainerStart(actx, res.ID, client.ContainerStartOptions{})
		}
	case "start":
		_, err = e.cli.ContainerStart(actx, c.ID, client.ContainerStartOptions{})
	case "kill":
		_, err = e.cli.ContainerKill(actx, c.ID, client.ContainerKillOptions{Signal: "KILL"})
	case "stop":
		zero := 0
		_, err = e.cli.ContainerStop(actx, c.ID, client.ContainerStopOptions{Timeout: &zero})
	case "restart":
		zero := 0
		_, err = e.cli.ContainerRestart(actx, c.ID, client.ContainerRestartOptions{Timeout: &zero})
	case "pause":
		// A paused container's processes are frozen: an engine kill must
		// still kill them (hack/engines.sh kill fails when any survives).
		_, err = e.cli.ContainerPause(actx, c.ID, client.ContainerPauseOptions{})
	case "unpause":
		_, err = e.cli.ContainerUnpause(actx, c.ID, client.ContainerUnpauseOptions{})
	case "rename":
		e.seq++
		name := fmt.Sprintf("soak-%s-%s%d", s.runID, e.name, e.seq)
		if _, err = e.cli.ContainerRename(actx, c.ID, client.ContainerRenameOptions{NewName: name}); err == nil {
			c.Name = name
		}
	case "remove":
		_, err = e.cli.ContainerRemove(actx, c.ID, client.ContainerRemoveOptions{Force: true})
	}
	s.count(action)
	if err != nil {
		s.count("action errors")
	}
	s.inspect(ctx, e, c, since, action)
}

// inspect observes c; it returns false when the engine did not answer.
func (s *chaos) inspect(ctx context.Context, e *chaosEngine, c *ctrTruth, since time.Time, reason string) bool {
	for attempt := 0; attempt < 3; attempt++ {
		ictx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
		r, err := e.cli.ContainerInspect(ictx, c.ID, client.ContainerInspectOptions{})
		cancel()
		at := time.Now()
		switch {
		case err == nil:
			o := observation{Exists: true}
			if st := r.Container.State; st != nil {
				o.Running = st.Running || st.Paused || st.Restarting
				o.Paused = st.Paused
				o.StartedAt, o.FinishedAt = st.StartedAt, st.FinishedAt
			}
			c.observe(o, since, at, reason)
			return true
		case isNotFound(err):
			c.observe(observation{}, since, at, reason)
			return true
		}
		time.Sleep(200 * time.Millisecond)
	}
	c.known = false
	return false
}

func isNotFound(err error) bool {
	var nf interface{ NotFound() }
	return errors.As(err, &nf) || strings.Contains(err.Error(), "No such container")
}

// reinspect observes every container of the engine, and finds those the
// soak made without learning their ID. e.mu is held.
func (s *chaos) reinspect(ctx context.Context, e *chaosEngine, reason string) {
	now := time.Now()
	for _, c := range e.ctrs {
		if !c.Gone {
			s.inspect(ctx, e, c, now, reason)
		}
	}
	s.discover(ctx, e)
}

// discover adds the soak's containers the engine lists and the soak does not
// know (a create that failed after the engine made the container).
func (s *chaos) discover(ctx context.Context, e *chaosEngine) {
	lctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	res, err := e.cli.ContainerList(lctx, client.ContainerListOptions{All: true,
		Filters: client.Filters{}.Add("label", "eventsd-soak="+s.runID)})
	if err != nil {
		return
	}
	known := map[string]bool{}
	for _, c := range e.ctrs {
		known[c.ID] = true
	}
	for _, item := range res.Items {
		if known[item.ID] {
			continue
		}
		name := ""
		if len(item.Names) > 0 {
			name = strings.TrimPrefix(item.Names[0], "/")
		}
		c := &ctrTruth{Engine: e.name, ID: item.ID, Name: name}
		e.ctrs = append(e.ctrs, c)
		s.count("discovered")
		s.inspect(ctx, e, c, time.Now(), "discovered")
	}
}

// engineKiller SIGKILLs an engine now and then, and starts it again.
func (s *chaos) engineKiller(ctx context.Context) error {
	for sleepCtx(ctx, s.jitter(s.opts.EngineKillEvery)) {
		e := s.engines[s.intn(len(s.engines))]
		s.gate.RLock()
		e.mu.Lock()
		err := s.killEngine(ctx, e)
		e.mu.Unlock()
		s.gate.RUnlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// killEngine kills e, waits, starts it and learns what the kill did. e.mu is held.
func (s *chaos) killEngine(ctx context.Context, e *chaosEngine) error {
	down := s.between(time.Second, s.opts.EngineDownMax)
	s.log.Printf("engine %s: SIGKILL, down for %v", e.name, down.Round(time.Millisecond))
	e.up = false
	for _, c := range e.alive() {
		if c.known && c.last.Paused {
			s.count("paused at engine kills")
		}
	}
	s.mu.Lock()
	s.engineKills = append(s.engineKills, engineKill{Engine: e.name, At: time.Now()})
	kill := &s.engineKills[len(s.engineKills)-1]
	s.mu.Unlock()
	if err := s.env.engineCtl(ctx, "kill", e.name); err != nil {
		return err
	}
	s.count("engine kills")
	time.Sleep(down) // even when ctx ends: the engine comes back below
	var err error
	for attempt := 0; attempt < 3; attempt++ {
		if err = s.env.engineCtl(ctx, "start", e.name); err == nil {
			break
		}
		s.log.Printf("engine %s: start failed: %v", e.name, err)
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	kill.Back = time.Now()
	s.mu.Unlock()
	e.up = true
	s.reinspect(ctx, e, "engine killed")
	return nil
}

// faulter makes one proxy misbehave now and then.
func (s *chaos) faulter(ctx context.Context) {
	for sleepCtx(ctx, s.jitter(s.opts.FaultEvery)) {
		e := s.engines[s.intn(len(s.engines))]
		modes := []string{"reset", string(faultproxy.Refuse), string(faultproxy.Stall), string(faultproxy.Delay)}
		mode := modes[s.intn(len(modes))]
		d := s.between(200*time.Millisecond, s.opts.FaultMax)
		s.gate.RLock()
		switch mode {
		case "reset":
			e.proxy.Reset()
		case string(faultproxy.Delay):
			e.proxy.SetDelay(s.between(50*time.Millisecond, 1500*time.Millisecond))
		default:
			e.proxy.Set(faultproxy.Mode(mode))
		}
		s.count("proxy " + mode)
		f := proxyFault{Engine: e.name, Mode: mode, From: time.Now()}
		if mode != "reset" {
			sleepCtx(ctx, d)
			e.proxy.Set(faultproxy.Pass)
		}
		f.To = time.Now()
		s.mu.Lock()
		s.faults = append(s.faults, f)
		s.mu.Unlock()
		s.gate.RUnlock()
	}
}

// daemonKiller SIGKILLs the daemon now and then, and starts it again. Without
// --state-dir it first waits for a quiescent moment, when every transition so
// far was delivered: what is lost is then exactly what happens while the
// daemon is away (a documented gap).
func (s *chaos) daemonKiller(ctx context.Context) error {
	for sleepCtx(ctx, s.jitter(s.opts.DaemonKillEvery)) {
		stateless := s.d.stateDir == ""
		if stateless {
			s.gate.Lock()
			if !s.waitDelivered(ctx, time.Minute, false) {
				s.mu.Lock()
				s.quiesceMiss++
				s.mu.Unlock()
			}
		}
		s.log.Printf("daemon: SIGKILL")
		s.d.signal(syscall.SIGKILL, 10*time.Second)
		s.mu.Lock()
		s.runs[len(s.runs)-1].Killed = time.Now()
		s.mu.Unlock()
		s.endRun()
		s.count("daemon kills")
		if stateless {
			s.gate.Unlock()
		}
		time.Sleep(s.between(500*time.Millisecond, 5*time.Second))
		s.cfgMu.Lock()
		err := s.startDaemon()
		s.cfgMu.Unlock()
		if err != nil {
			return err
		}
	}
	return nil
}

// truth returns every container's truth. The caller holds what keeps it
// still (the gate exclusively, or the end of the chaos).
func (s *chaos) truth() []*ctrTruth {
	var out []*ctrTruth
	for _, e := range s.engines {
		out = append(out, e.ctrs...)
	}
	return out
}

// waitDelivered waits until every rule delivered every transition so far
// (outside the documented gaps), and, when quiet is set, until the ledger
// stopped growing for 3 s. It returns false on timeout.
func (s *chaos) waitDelivered(ctx context.Context, timeout time.Duration, quiet bool) bool {
	deadline := time.Now().Add(timeout)
	lastSize, lastChange := int64(-1), time.Now()
	for {
		recs, _ := readRecords(s.ledger)
		reps, _, _ := compare(ledgerRules, s.truth(), recs, s.windows(), s.kills(), s.opts.CheckpointSlack)
		done := true
		for _, r := range reps {
			if r.Lost > 0 {
				done = false
			}
		}
		var size int64
		if st, err := os.Stat(s.ledger); err == nil {
			size = st.Size()
		}
		if size != lastSize {
			lastSize, lastChange = size, time.Now()
		}
		if done && (!quiet || time.Since(lastChange) > 3*time.Second) {
			return true
		}
		if time.Now().After(deadline) || ctx.Err() != nil {
			return false
		}
		time.Sleep(250 * time.Millisecond)
	}
}

func (s *chaos) report() *chaosReport {
	recs, err := readRecords(s.ledger)
	if err != nil {
		s.log.Printf("reading the ledger: %v", err)
	}
	truth := s.truth()
	windows := s.windows()
	reps, problems, notes := compare(ledgerRules, truth, recs, windows, s.kills(), s.opts.CheckpointSlack)
	rep := &chaosReport{
		Seed: s.opts.Seed, Duration: s.opts.Duration.String(), Engines: s.env.names, StateDir: s.d.stateDir != "",
		Counts: s.snapshotCounts(), Containers: len(truth), Transitions: map[string]int{}, Rules: reps,
		Windows: windows, QuiesceMiss: s.quiesceMiss, LogErrors: s.d.errors(),
	}
	s.mu.Lock()
	rep.DaemonRuns = s.runs
	rep.EngineKills = s.engineKills
	rep.ProxyFaults = s.faults
	s.mu.Unlock()
	for _, c := range truth {
		for _, t := range c.Timeline {
			rep.Transitions[t.Kind]++
		}
	}
	if st := s.fakeStats; st != nil {
		rep.Fakes = &fakeReport{Engines: st.Engines, Rate: s.opts.FakeRate, Mix: fakeengine.DefaultMix.String(),
			Emitted: st.Emitted, Queued: st.Queued, Written: st.Written, Dropped: st.Dropped,
			Streams: st.Streams, MaxBacklog: st.MaxBacklog}
	}
	if s.opts.ReloadStorm > 0 {
		rep.Reloads = s.reloads()
	}
	for _, r := range recs {
		if r.Rule == "engines" && r.OK && strings.HasPrefix(r.Engine, fakePrefix) {
			if rep.Fakes != nil && r.Type == "engine_down" {
				rep.Fakes.EngineDown++
			}
			continue
		}
		if r.Rule == "engines" && r.OK {
			switch r.Type {
			case "engine_down":
				rep.EngineDown++
			case "engine_up":
				rep.EngineUp++
			}
		}
	}
	for _, name := range ledgerRules {
		r := reps[name]
		rep.Total.Expected += r.Expected
		rep.Total.Delivered += r.Delivered
		rep.Total.Synthesized += r.Synthesized
		rep.Total.Lost += r.Lost
		rep.Total.GapLost += r.GapLost
		rep.Total.Replays += r.Replays
		rep.Total.CrashReplays += r.CrashReplays
		rep.Total.CompletedRepeats += r.CompletedRepeats
		rep.Total.WindowRepeats += r.WindowRepeats
		rep.Total.Unexplained += r.Unexplained
		rep.Total.FailedAttempts += r.FailedAttempts
	}
	sort.SliceStable(problems, func(i, j int) bool { return problems[i].Rule < problems[j].Rule })
	if len(problems) > 200 {
		problems = problems[:200]
	}
	rep.Problems = problems
	if len(notes) > 200 {
		notes = notes[:200]
	}
	rep.Notes = notes
	rep.OK = rep.Total.Lost == 0 && rep.Total.Unexplained == 0 && rep.Total.CompletedRepeats == 0 && rep.LogErrors["Handler failed, giving up"] == 0 &&
		rep.LogErrors[logDataRace] == 0 && rep.LogErrors[logPanic] == 0 && rep.LogErrors[logFatal] == 0 &&
		(rep.Fakes == nil || rep.Fakes.Dropped == 0)
	return rep
}

func (s *chaos) printReport(rep *chaosReport) {
	s.log.Printf("counts: %v", rep.Counts)
	s.log.Printf("containers %d, transitions %v, engine_down %d, engine_up %d, daemon runs %d, --state-dir %v",
		rep.Containers, rep.Transitions, rep.EngineDown, rep.EngineUp, len(rep.DaemonRuns), rep.StateDir)
	for _, name := range ledgerRules {
		s.log.Printf("rule %-6s %s", name, rep.Rules[name])
	}
	s.log.Printf("total  %s", &rep.Total)
	if f := rep.Fakes; f != nil {
		s.log.Printf("fakes  %d engines at %g/s: emitted %d, queued %d, written %d, dropped %d (100 ms rule), max backlog %d, streams %d, engine_down %d",
			f.Engines, f.Rate, f.Emitted, f.Queued, f.Written, f.Dropped, f.MaxBacklog, f.Streams, f.EngineDown)
	}
	if r := rep.Reloads; r != nil {
		s.log.Printf("reloads: %d configs written (%d invalid), %d SIGHUPs; the daemon applied %d, refused %d",
			r.Written, r.Invalid, r.SIGHUPs, r.Applied, r.Refused)
	}
	if len(rep.LogErrors) > 0 {
		s.log.Printf("daemon error logs: %v", rep.LogErrors)
	}
	for i, p := range rep.Problems {
		if i == 20 {
			s.log.Printf("... %d more in report.json", len(rep.Problems)-20)
			break
		}
		s.log.Printf("problem: %s %s %s/%s (%s): expected %v, delivered %v", p.Rule, p.What, p.Engine, short(p.Container), p.Kind, p.Expected, p.Delivered)
	}
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// Reanalyze compares again the ledger of an earlier chaos soak, with the
// windows and daemon runs its report recorded.
func Reanalyze(dir string, slack time.Duration) error {
	var rep chaosReport
	var truth []*ctrTruth
	for name, v := range map[string]any{"report.json": &rep, "truth.json": &truth} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := json.Unmarshal(b, v); err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
	}
	recs, err := readRecords(filepath.Join(dir, "ledger.txt"))
	if err != nil {
		return err
	}
	kills := make([]time.Time, len(rep.DaemonRuns))
	for i, r := range rep.DaemonRuns {
		kills[i] = r.Killed
	}
	reps, problems, notes := compare(ledgerRules, truth, recs, rep.Windows, kills, slack)
	for _, name := range ledgerRules {
		fmt.Printf("rule %-6s %s\n", name, reps[name])
	}
	for _, p := range problems {
		fmt.Printf("problem: %s %s %s/%s (%s): expected %v, delivered %v\n", p.Rule, p.What, p.Engine, short(p.Container), p.Kind, p.Expected, p.Delivered)
	}
	for _, n := range notes {
		fmt.Printf("crash note: %s %s %s/%s (%s)\n", n.Rule, n.What, n.Engine, short(n.Container), n.Kind)
	}
	return nil
}
