package soak

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// slowReport is the JSON report of the slow-consumer mode.
type slowReport struct {
	Engine     string  `json:"engine"`
	Duration   string  `json:"duration"`
	TargetRate int     `json:"targetRate"`
	Containers int     `json:"containers"`
	Workers    int     `json:"workers"`
	Action     string  `json:"action"`     // kill (docker kill -s USR1) or rename
	Emitted    int64   `json:"emitted"`    // successful calls: one event each
	CallErrors int64   `json:"callErrors"` // failed calls (no event)
	Rate       float64 `json:"rate"`       // emitted per second
	Observed   int64   `json:"observed"`   // events a direct subscriber of the engine saw
	Received   int     `json:"received"`   // distinct events the daemon handed to its rules
	Missed     int64   `json:"missed"`     // emitted - received
	BusyRuns   int     `json:"busyRuns"`   // slow handler runs started during the flood
	EngineDown int     `json:"engineDown"` // engine_down events (must be 0)
	// EngineDropped is what a fake engine (-slow-stats) says it dropped for
	// slow subscribers (dockerd's 100 ms rule); -1 when unknown.
	EngineDropped int64 `json:"engineDropped"`
	OK            bool  `json:"ok"`
}

// runSlow keeps every worker of the daemon busy with slow handlers while one
// engine emits kill (or rename) events as fast as the soak can make it, and checks that
// the daemon's subscription received every one.
func runSlow(ctx context.Context, o *Options, logger *log.Logger) (bool, error) {
	url, name := o.SlowURL, "flood"
	image := "eventsd-busybox:latest"
	if url == "" {
		env, err := readEngineEnv(o.EnginesDir)
		if err != nil {
			return false, err
		}
		name = o.SlowEngine
		if name == "" {
			name = env.names[0]
		}
		url, image = env.urls[name], env.image
		if url == "" {
			return false, fmt.Errorf("no engine %q in %s/env", name, env.dir)
		}
	}
	cli, err := client.New(client.WithHost(url), client.WithAPIVersionNegotiation())
	if err != nil {
		return false, err
	}
	defer cli.Close()
	runID := fmt.Sprintf("%x", o.Seed&0xffffffff)
	label := "eventsd-soak=" + runID

	// The containers that receive the signals: busybox sleep as PID 1 ignores
	// SIGUSR1, so each docker kill -s USR1 is one kill event and nothing else.
	var ids []string
	defer func() {
		for _, id := range ids {
			rctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			_, _ = cli.ContainerRemove(rctx, id, client.ContainerRemoveOptions{Force: true})
			cancel()
		}
	}()
	for i := 0; i < o.SlowContainers; i++ {
		res, err := cli.ContainerCreate(ctx, client.ContainerCreateOptions{
			Name:       fmt.Sprintf("soak-slow-%s-%d", runID, i),
			Config:     &container.Config{Image: image, Cmd: []string{"sleep", "100000"}, Labels: map[string]string{"eventsd-soak": runID}},
			HostConfig: &container.HostConfig{NetworkMode: "none"},
		})
		if err != nil {
			return false, fmt.Errorf("create: %w", err)
		}
		ids = append(ids, res.ID)
		if _, err := cli.ContainerStart(ctx, res.ID, client.ContainerStartOptions{}); err != nil {
			return false, fmt.Errorf("start: %w", err)
		}
	}

	ledger := filepath.Join(o.Work, "busy.txt")
	_ = os.Remove(ledger)
	cfg := fmt.Sprintf(`cluster:
  %[1]s: %[2]s
events:
  - name: busy
    type: %[5]s
    labels: {eventsd-soak: %[3]q}
    timeout: 10m
    retry: {max_attempts: 1}
    command: 'echo "$EVENT_ID" >> "$SOAK_LEDGER"; sleep 5'
  - name: count
    type: %[5]s
    labels: {eventsd-soak: %[4]q}
    log: received
  - name: engines
    type: engine_down
    command: 'echo engine_down >> "$SOAK_LEDGER.down"'
`, name, url, runID, runID, o.SlowAction)
	cfgPath := filepath.Join(o.Work, "events.yml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		return false, err
	}
	d := &daemon{bin: o.DaemonBin, config: cfgPath, work: o.Work, ledger: ledger,
		flags: append([]string{"-v", "0", "--workers", fmt.Sprint(o.Workers), "--shutdown-timeout", "1s"}, listenFlags(o.DaemonBin)...)}
	if err := d.start(); err != nil {
		return false, err
	}
	defer d.signal(syscall.SIGKILL, 10*time.Second)
	if !d.waitSynced([]string{name}, 60*time.Second) {
		return false, fmt.Errorf("the daemon did not sync %s", name)
	}

	// A direct subscriber counts what the engine emitted.
	var observed atomic.Int64
	octx, ocancel := context.WithCancel(ctx)
	defer ocancel()
	obs := cli.Events(octx, client.EventsListOptions{Filters: client.Filters{}.
		Add("type", "container").Add("event", o.SlowAction).Add("label", label)})
	obsDone := make(chan struct{})
	go func() {
		defer close(obsDone)
		for {
			select {
			case <-obs.Messages:
				observed.Add(1)
			case <-obs.Err:
				return
			}
		}
	}()

	// emit makes the engine emit one event about container i: a kill
	// (SIGUSR1, which sleep as PID 1 ignores: the container lives on) or a
	// rename (dockerd alone, no runc: cheaper).
	var renames atomic.Int64
	emit := func(ctx context.Context, i int) error {
		if o.SlowAction == "rename" {
			_, err := cli.ContainerRename(ctx, ids[i%len(ids)], client.ContainerRenameOptions{
				NewName: fmt.Sprintf("soak-slow-%s-%d-%d", runID, i%len(ids), renames.Add(1))})
			return err
		}
		_, err := cli.ContainerKill(ctx, ids[i%len(ids)], client.ContainerKillOptions{Signal: "USR1"})
		return err
	}
	// Fill every worker first.
	for i := 0; i < o.Workers && i < len(ids); i++ {
		if err := emit(ctx, i); err != nil {
			return false, fmt.Errorf("%s: %w", o.SlowAction, err)
		}
	}
	time.Sleep(time.Second)

	logger.Printf("flooding %s (%s) with %s events at %d/s for %v, %d busy workers", name, url, o.SlowAction, o.Rate, o.Duration, o.Workers)
	var emitted, callErrs atomic.Int64
	fctx, fcancel := context.WithTimeout(ctx, o.Duration)
	defer fcancel()
	tokens := make(chan struct{}, max(o.Rate/10, 1))
	go func() {
		defer close(tokens)
		const tick = 10 * time.Millisecond
		t := time.NewTicker(tick)
		defer t.Stop()
		start := time.Now()
		sent := 0
		for {
			select {
			case <-fctx.Done():
				return
			case <-t.C:
			}
			due := int(time.Since(start).Seconds() * float64(o.Rate))
			for ; sent < due; sent++ {
				select {
				case tokens <- struct{}{}:
				default: // the callers are behind: this event is not made
				}
			}
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	callers := 64
	for g := 0; g < callers; g++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			i := g
			for {
				select {
				case <-fctx.Done():
					return
				case _, ok := <-tokens:
					if !ok {
						return
					}
				}
				kctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				err := emit(kctx, i)
				cancel()
				if err != nil {
					callErrs.Add(1)
				} else {
					emitted.Add(1)
				}
				i += callers
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	logger.Printf("emitted %d events in %v (%.0f/s), %d failed calls", emitted.Load(), elapsed.Round(time.Millisecond), float64(emitted.Load())/elapsed.Seconds(), callErrs.Load())

	// Wait until the daemon's count stops growing.
	total := emitted.Load() + int64(min(o.Workers, len(ids)))
	var received int
	deadline := time.Now().Add(2 * time.Minute)
	last, lastChange := -1, time.Now()
	for time.Now().Before(deadline) {
		received, err = countFired(filepath.Join(o.Work, "daemon-1.log"), "count")
		if err != nil {
			return false, err
		}
		if received != last {
			last, lastChange = received, time.Now()
		}
		if int64(received) >= total && observed.Load() >= total || time.Since(lastChange) > 10*time.Second {
			break
		}
		time.Sleep(500 * time.Millisecond)
	}
	ocancel()
	<-obsDone
	busy := countLines(ledger)
	downs := countLines(ledger + ".down")
	d.signal(syscall.SIGTERM, 30*time.Second)

	rep := &slowReport{
		Engine: name + " " + url, Action: o.SlowAction, Duration: o.Duration.String(), TargetRate: o.Rate, Containers: len(ids), Workers: o.Workers,
		Emitted: total, CallErrors: callErrs.Load(), Rate: float64(emitted.Load()) / elapsed.Seconds(),
		Observed: observed.Load(), Received: received, Missed: total - int64(received), BusyRuns: busy, EngineDown: downs,
	}
	rep.EngineDropped = -1
	if o.SlowStats != "" {
		var st struct {
			Dropped int64 `json:"dropped"`
		}
		resp, err := http.Get(o.SlowStats) //nolint:gosec // a URL the user gave
		if err != nil {
			return false, err
		}
		err = json.NewDecoder(resp.Body).Decode(&st)
		resp.Body.Close()
		if err != nil {
			return false, fmt.Errorf("%s: %w", o.SlowStats, err)
		}
		rep.EngineDropped = st.Dropped
	}
	rep.OK = rep.Missed == 0 && rep.EngineDown == 0 && rep.EngineDropped <= 0
	if err := writeJSON(filepath.Join(o.Work, "report.json"), rep); err != nil {
		return false, err
	}
	if o.Report != "" {
		if err := writeJSON(o.Report, rep); err != nil {
			return false, err
		}
	}
	logger.Printf("emitted %d (%.0f/s), observed by a direct subscriber %d, received by the daemon %d, missed %d; %d slow handler runs kept %d workers busy; engine_down %d; dropped by the engine %d (-1: unknown)",
		rep.Emitted, rep.Rate, rep.Observed, rep.Received, rep.Missed, rep.BusyRuns, rep.Workers, rep.EngineDown, rep.EngineDropped)
	return rep.OK, nil
}

// countFired counts the distinct events for which rule fired in a daemon log.
func countFired(path, rule string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	seen := map[string]bool{}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 4<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if !strings.Contains(string(line), `"Rule fired"`) {
			continue
		}
		var l struct {
			Msg   string `json:"msg"`
			Rule  string `json:"rule"`
			Event string `json:"event"`
		}
		if json.Unmarshal(line, &l) == nil && l.Msg == "Rule fired" && l.Rule == rule {
			seen[l.Event] = true
		}
	}
	return len(seen), sc.Err()
}

func countLines(path string) int {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0
	}
	return strings.Count(string(b), "\n")
}
