// Package monitor makes the checks of a config's monitors: a tcp connect, an
// http request or an exec plugin, at each monitor's interval, on each of its
// targets, and turns them into events only when a target passes a
// threshold.
//
// A Scheduler owns one goroutine per (monitor, target). Targets are the
// monitor's fixed addresses, started with the Scheduler, and every running
// container its selector matches in the engines' caches: the Scheduler
// re-reads the caches when told that something changed (Notify, which the
// daemon calls for each event an engine hands on) and at each resync, starts
// a target for each container that runs and matches, and stops the targets
// of containers that stopped, vanished or no longer match. A container's
// start (a start or restart event) starts its targets again: a new
// start_period, a new address. No Docker call is made per check; a
// container's network is inspected once per target start (see address.go for
// how its address is found).
//
// Each target counts consecutive failed and good checks (threshold.go): it
// is starting until it passes a threshold, down after Failures failed checks
// in a row (failed checks within StartPeriod of its start do not count), up
// after Successes good ones. Going down (from starting or up) makes a
// tcp_timeout, tcp_refused, http_error or exec_failed event; coming back from
// down makes tcp_ok, http_ok or exec_ok; starting to up makes none (the
// container's own start event says it). The events go to the Handler, the
// controller's Handle: the same queue, ordering, retries and journal as
// engine events. Each target's current result is kept in Results, which
// state rules read (monitors: {mysql: down}).
//
// Checks of one target never overlap: a target's next check is scheduled an
// interval after the previous one was due, and a check that overran skips
// the checks it made late. The first check of a target is at a random time
// within its first interval, so that targets started together spread out.
package monitor
