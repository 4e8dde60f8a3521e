package soak

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// daemon runs docker-eventsd, again and again: each start is one run, with
// its own log file, and SOAK_RUN=N in the handlers' environment.
type daemon struct {
	bin      string
	config   string
	work     string
	ledger   string
	stateDir string // "" without --state-dir
	flags    []string

	mu      sync.Mutex
	run     int
	cmd     *exec.Cmd
	done    chan struct{}
	synced  map[string]time.Time   // engine -> first "Engine in sync" of this run
	syncs   map[string][]time.Time // engine -> every "Engine in sync", all runs
	logErrs map[string]int         // error-level log lines by message, all runs
	exitErr error
}

// logLine is the part of a JSON log line of the daemon the soak reads.
type logLine struct {
	TS     string `json:"ts"`
	Level  string `json:"level"`
	Msg    string `json:"msg"`
	Engine string `json:"engine"`
}

// start runs the daemon once more.
func (d *daemon) start() error {
	d.mu.Lock()
	d.run++
	run := d.run
	d.synced = map[string]time.Time{}
	d.mu.Unlock()

	args := []string{"run", "-c", d.config, "--log-format", "json"}
	if d.stateDir != "" {
		args = append(args, "--state-dir", d.stateDir)
	}
	args = append(args, d.flags...)
	cmd := exec.Command(d.bin, args...)
	cmd.Env = append(os.Environ(), "SOAK_LEDGER="+d.ledger, fmt.Sprintf("SOAK_RUN=%d", run))
	logPath := filepath.Join(d.work, fmt.Sprintf("daemon-%d.log", run))
	logFile, err := os.Create(logPath)
	if err != nil {
		return err
	}
	stderr, err := cmd.StderrPipe()
	if err != nil {
		logFile.Close()
		return err
	}
	cmd.Stdout = logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	done := make(chan struct{})
	d.mu.Lock()
	d.cmd, d.done = cmd, done
	d.mu.Unlock()
	go func() {
		defer close(done)
		defer logFile.Close()
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 1<<20), 4<<20)
		for sc.Scan() {
			line := sc.Bytes()
			logFile.Write(line)
			logFile.Write([]byte{'\n'})
			var l logLine
			if json.Unmarshal(line, &l) != nil {
				// Not a log line: the race detector's and the runtime's
				// reports are failures of the soak.
				if msg := runtimeReport(line); msg != "" {
					d.mu.Lock()
					if d.logErrs == nil {
						d.logErrs = map[string]int{}
					}
					d.logErrs[msg]++
					d.mu.Unlock()
				}
				continue
			}
			d.mu.Lock()
			if l.Level == "error" {
				if d.logErrs == nil {
					d.logErrs = map[string]int{}
				}
				d.logErrs[l.Msg]++
			}
			if l.Msg == "Engine in sync" && l.Engine != "" {
				ts, err := time.Parse(time.RFC3339Nano, l.TS)
				if err != nil {
					ts = time.Now()
				}
				if _, ok := d.synced[l.Engine]; !ok {
					d.synced[l.Engine] = ts
				}
				if d.syncs == nil {
					d.syncs = map[string][]time.Time{}
				}
				d.syncs[l.Engine] = append(d.syncs[l.Engine], ts)
			}
			d.mu.Unlock()
		}
		err := cmd.Wait()
		d.mu.Lock()
		d.exitErr = err
		d.mu.Unlock()
	}()
	return nil
}

// syncedAt returns when the current run first synced each engine.
func (d *daemon) syncedAt() map[string]time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]time.Time, len(d.synced))
	for k, v := range d.synced {
		out[k] = v
	}
	return out
}

// syncedAfter returns the first time any run synced engine after t, or false.
func (d *daemon) syncedAfter(engine string, t time.Time) (time.Time, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, s := range d.syncs[engine] {
		if s.After(t) {
			return s, true
		}
	}
	return time.Time{}, false
}

// waitSynced waits until the current run synced these engines, or timeout.
func (d *daemon) waitSynced(engines []string, timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for {
		s := d.syncedAt()
		all := true
		for _, e := range engines {
			if _, ok := s[e]; !ok {
				all = false
			}
		}
		if all {
			return true
		}
		if time.Now().After(deadline) || !d.running() {
			return false
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (d *daemon) running() bool {
	d.mu.Lock()
	done := d.done
	d.mu.Unlock()
	if done == nil {
		return false
	}
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// signal sends sig and waits up to wait for the daemon to exit (then SIGKILL).
func (d *daemon) signal(sig syscall.Signal, wait time.Duration) {
	d.mu.Lock()
	cmd, done := d.cmd, d.done
	d.mu.Unlock()
	if cmd == nil || cmd.Process == nil {
		return
	}
	_ = cmd.Process.Signal(sig)
	select {
	case <-done:
	case <-time.After(wait):
		_ = cmd.Process.Kill()
		<-done
	}
}

// errors returns the error-level log lines of every run, by message.
func (d *daemon) errors() map[string]int {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string]int, len(d.logErrs))
	for k, v := range d.logErrs {
		out[k] = v
	}
	return out
}

// Reports of the Go runtime in a daemon's stderr, counted among its error
// logs under these names; any of them fails the soak.
const (
	logDataRace = "WARNING: DATA RACE"
	logPanic    = "panic:"
	logFatal    = "fatal error:"
)

// runtimeReport returns which runtime report line starts, or "".
func runtimeReport(line []byte) string {
	for _, m := range [...]string{logDataRace, logPanic, logFatal} {
		if bytes.HasPrefix(line, []byte(m)) {
			return m
		}
	}
	return ""
}

// listenFlags gives the daemon an endpoint port of its own when it has one
// (--listen, default 127.0.0.1:9324): a soak never competes for the default
// with another daemon on the machine.
func listenFlags(bin string) []string {
	if hasFlag(bin, "--listen") {
		return []string{"--listen", "127.0.0.1:0"}
	}
	return nil
}

// hasFlag reports whether `bin run --help` lists the flag.
func hasFlag(bin, flag string) bool {
	out, err := exec.Command(bin, "run", "--help").CombinedOutput()
	return err == nil && strings.Contains(string(out), flag+" ")
}
