// Package health tells whether the daemon's loops make progress, for
// /healthz: each loop (an engine's processing loop, a controller worker)
// owns a Loop of a Watchdog and brackets each piece of work with Begin and
// End; a loop that stays inside one piece of work past its limit is stuck,
// and the Watchdog names it. A loop waiting for work is never stuck.
//
// Begin and End are two atomic operations and never read the clock: the
// Watchdog's own goroutine (Run) notices which loops did not move between
// two of its ticks.
package health
