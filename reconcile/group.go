package reconcile

import (
	"errors"
	"fmt"
	"sync"
	"syscall"
)

// group is one live handler process group.
type group struct {
	pgid   int
	killed bool // KillAll signalled it; guarded by groups.mu
}

// groups is the set of process groups whose shell Run has not yet reaped, so
// that KillAll can reach them and Running can count them.
type groups struct {
	mu  sync.Mutex
	set map[*group]struct{} // keyed by identity: a PID may be reused
}

// add records a newly started group and returns its handle for remove.
func (gs *groups) add(pgid int) *group {
	g := &group{pgid: pgid}
	gs.mu.Lock()
	defer gs.mu.Unlock()
	if gs.set == nil {
		gs.set = make(map[*group]struct{})
	}
	gs.set[g] = struct{}{}
	return g
}

// remove forgets g and reports whether KillAll killed it.
func (gs *groups) remove(g *group) bool {
	gs.mu.Lock()
	defer gs.mu.Unlock()
	delete(gs.set, g)
	return g.killed
}

// KillAll sends SIGKILL to the process group of every handler still running,
// for a daemon asked to exit at once (a second SIGINT). The Runs return with an
// *ExitError and Result.Killed set. Handlers started afterwards run normally.
func (r *Runner) KillAll() {
	gs := &r.groups
	gs.mu.Lock()
	defer gs.mu.Unlock()
	for g := range gs.set {
		g.killed = true
		_ = signalGroup(g.pgid, syscall.SIGKILL) // nothing left to do on failure
	}
}

// Running returns the number of handlers running now, for metrics and for a
// shutdown that waits for them.
func (r *Runner) Running() int {
	gs := &r.groups
	gs.mu.Lock()
	defer gs.mu.Unlock()
	return len(gs.set)
}

// signalGroup sends sig to every process of group pgid. A group that is
// already gone (ESRCH) is not an error.
func signalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 0 { // -0 and -(-1) would signal far more than one group
		return fmt.Errorf("signal process group %d: invalid group", pgid)
	}
	if err := syscall.Kill(-pgid, sig); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("signal process group %d with %s: %w", pgid, sig, err)
	}
	return nil
}
