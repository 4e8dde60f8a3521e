// Package controller decides what to run for each event of the informers, and
// runs it reliably.
//
// The Controller is an informer.Handler. Handle matches an event against every
// rule of the config (see match.go): each rule whose filters all match fires on
// its own, so one event may start several handlers; an event no rule wants is
// logged as uncaught. A firing rule logs its log: text and, when it has a
// command:, queues a delivery (the event, the rule and how many attempts were
// made) and returns at once: Handle never waits for a handler.
//
// Deliveries are grouped by Key, one rule on one container (or on one engine,
// for engine_down / engine_up). A workqueue of keys feeds Options.Workers
// workers, in the shape of Kubernetes' sample-controller. The workqueue
// deduplicates keys and never hands one key to two workers at once, so the
// deliveries themselves wait beside it in a FIFO per key: nothing is lost to
// deduplication, the deliveries of one key run one at a time in the order
// their events arrived, and different keys run in parallel.
//
// A worker runs the head delivery of its key and pops it only when it succeeded
// or was given up. A failed attempt is retried after the rule's backoff
// (Retry.Backoff doubling per failure up to Retry.MaxBackoff, with ±20%
// jitter, see retry.go) until Retry.MaxAttempts attempts were made; while the
// head of a key waits, later deliveries of that key wait behind it, and other
// keys go on.
//
// Handlers get their context in their environment (see env.go: FROM_ENGINE,
// EVENT_ID, ...) and as one JSON document on stdin. The environment is
// Options.Environ, overridden by the rule's env:, overridden by the variables
// the daemon sets: a rule cannot change FROM_*, EVENT_*, CONTAINER_*, ENGINE_*
// or EVENTSD_RULE (Run logs the names it ignores). Values are passed as they
// are, never interpreted.
//
// State rules (state: in the config, see state*.go) are level-triggered:
// they react to the set of cached containers, across the engines of
// Options.Engines, that their selector picks out, not to events. Handle only
// marks them (a non-blocking send); each state rule has its own goroutine,
// started by Run, that evaluates the set when marked, every second and at its
// own deadlines (debounce, max_delay, retry, resync, an engine's
// engine_down_grace), all on Options.Clock, and runs the command through the
// same Runner, one run at a time. It never evaluates before every engine it
// may select has synced or has been down for longer than the grace.
//
// With Options.Journal (the state file of --state-dir, see journal.go), each
// delivery is journaled before Handle returns, rewritten after each failed
// attempt and removed when it succeeded or was given up; Recover queues the
// deliveries an earlier run left pending, before any new event, with the same
// event and attempt count. Delivery is at least once: handlers dedupe with
// EVENT_ID.
//
// A delivery given up (its attempts used up, or an exit code of the rule's
// Retry.PermanentExitCodes) becomes a DeadLetter (deadletter.go): kept with
// its event and last output, in the journal too when it is a
// DeadLetterJournal, bounded, and listed, retried (a fresh delivery of the
// same event) or dropped by the operator; the rule's on_failure then runs
// once. Options.DryRun replaces the Runner by one that only logs "Would run"
// (dryrun.go). Explainer (explain.go) is the matching with words: for an
// event, the first filter of each rule that failed; StateExplainer
// (explain_state.go) evaluates state rules over a replayed cache.
//
// Run starts the workers and, when its context is done, stops taking new work,
// lets running handlers finish for up to the shutdown timeout, then cancels
// them (the Runner stops their process groups) and logs the deliveries that
// never ran.
package controller
