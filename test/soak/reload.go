package soak

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// The reload storm of the chaos soak (-reload-storm N): at a random moment
// of the first half of the faults, N reloads in a row, 50 ms apart (200 ms
// for an invalid one), while
// the containers, engines and proxies keep breaking: in turn a valid config
// whose extra rule (a pause rule) changes the engines' event filters, so that
// every engine restarts from its replay point; an invalid one (an unknown
// field), refused; and the soak's own config again. Each is written to a new
// file renamed over the config (the daemon's watcher sees it); every other
// one is also signalled with SIGHUP. The ledger rules never change: the
// ledger's comparison is the proof that the storm lost nothing.

// reloadReport is what the storm did, and what the daemon logged of it.
type reloadReport struct {
	// Written counts the configs written (valid and invalid), SIGHUPs the
	// signals sent.
	Written int `json:"written"`
	Invalid int `json:"invalid"`
	SIGHUPs int `json:"sighups"`
	// Applied and Refused count the daemon's "Config reloaded" and "Config
	// reload refused, the running config stays in force" lines, in every run.
	Applied int `json:"applied"`
	Refused int `json:"refused"`
}

// stormVariant returns the config of the storm's i-th reload, and whether it
// is invalid.
func stormVariant(base string, i int) (string, bool) {
	switch i % 3 {
	case 0:
		return base + fmt.Sprintf(`  - name: storm
    type: pause
    log: reload storm %d
`, i), false
	case 1:
		return base + `  - name: storm-broken
    type: pause
    tyop: oops
`, true
	}
	return base, false
}

// writeConfig writes src to a new file renamed over the config.
func (s *chaos) writeConfig(src string) error {
	tmp := filepath.Join(filepath.Dir(s.d.config), ".events.yml.storm")
	if err := os.WriteFile(tmp, []byte(src), 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, s.d.config)
}

// hup sends SIGHUP to the daemon's current run once it is in sync with an
// engine (before, its signal handler may not be set yet, and SIGHUP would
// kill it); it reports whether it sent one.
func (s *chaos) hup() bool {
	if len(s.d.syncedAt()) == 0 || !s.d.running() {
		return false
	}
	s.d.mu.Lock()
	cmd := s.d.cmd
	s.d.mu.Unlock()
	return cmd != nil && cmd.Process != nil && cmd.Process.Signal(syscall.SIGHUP) == nil
}

// reloadStorm waits a random part of the first half of the faults, then
// reloads n times in a row (see above). A daemon run never starts on an
// invalid file: cfgMu is held while one is in place.
func (s *chaos) reloadStorm(ctx context.Context, n int) error {
	if !sleepCtx(ctx, s.between(0, s.opts.Duration/2)) {
		return nil
	}
	b, err := os.ReadFile(s.d.config)
	if err != nil {
		return fmt.Errorf("reload storm: %w", err)
	}
	base := string(b)
	s.log.Printf("reload storm: %d reloads", n)
	for i := range n {
		if ctx.Err() != nil {
			break
		}
		// Each reload reaches a running daemon: one killed meanwhile is
		// waited for (up to 10 s).
		s.waitLive(ctx, 10*time.Second)
		src, invalid := stormVariant(base, i)
		if invalid {
			s.cfgMu.Lock()
		}
		err := s.writeConfig(src)
		if err == nil {
			s.count("reload written")
			if invalid {
				s.count("reload invalid")
			}
			if i%2 == 0 && s.hup() {
				s.count("reload sighup")
			}
		}
		pause := 50 * time.Millisecond
		if invalid {
			pause = 4 * pause // the watcher (100 ms of quiet) reads it too
		}
		sleepCtx(ctx, pause)
		if invalid {
			// The good file back before a daemon run may start on it.
			if err == nil {
				err = s.writeConfig(base)
			}
			s.cfgMu.Unlock()
		}
		if err != nil {
			return fmt.Errorf("reload storm: %w", err)
		}
	}
	if err := s.writeConfig(base); err != nil {
		return fmt.Errorf("reload storm: %w", err)
	}
	if s.hup() {
		s.count("reload sighup")
	}
	s.log.Printf("reload storm: done")
	return nil
}

// waitLive waits until the daemon's current run is in sync with an engine,
// or timeout.
func (s *chaos) waitLive(ctx context.Context, timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for (len(s.d.syncedAt()) == 0 || !s.d.running()) && time.Now().Before(deadline) {
		if !sleepCtx(ctx, 20*time.Millisecond) {
			return
		}
	}
}

// reloads counts what the storm did and what the daemon logged of it.
func (s *chaos) reloads() *reloadReport {
	c := s.snapshotCounts()
	r := &reloadReport{Written: c["reload written"], Invalid: c["reload invalid"], SIGHUPs: c["reload sighup"]}
	logs, _ := filepath.Glob(filepath.Join(s.opts.Work, "daemon-*.log"))
	for _, path := range logs {
		b, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		r.Applied += strings.Count(string(b), `"msg":"Config reloaded"`)
		r.Refused += strings.Count(string(b), `"msg":"Config reload refused, the running config stays in force"`)
	}
	return r
}
