// Package reconcile runs the shell handlers of docker-eventsd.
//
// A handler is a short shell script that the daemon runs when a Docker event
// matches a rule. The Runner in this package runs one handler as
// "/bin/sh -c SCRIPT" with an exact environment, an optional stdin document, a
// timeout and a bounded capture of its output, and reports how it ended.
//
// Each handler runs in its own process group, so that stopping it reaches
// everything it started, grandchildren included:
//
//   - On timeout or context cancellation the group gets SIGTERM, then SIGKILL
//     if the shell has not exited within the grace period. Once the shell is
//     dead the group is swept with SIGKILL, so a grandchild that ignored
//     SIGTERM does not outlive a handler that was stopped.
//   - When the shell exits on its own the group is left alone: a handler may
//     deliberately start a background process. Such a process should redirect
//     its stdout and stderr; if it keeps the capture pipes open, Run waits at
//     most Options.WaitDelay for them and then closes them, after which the
//     process gets EPIPE (or SIGPIPE) when it writes.
//
// Output is captured per stream up to a fixed size, keeping the last bytes,
// which are the ones that usually explain a failure. Capturing never blocks the
// child and never holds more than the bound in memory.
package reconcile
