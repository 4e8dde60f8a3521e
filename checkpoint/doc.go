// Package checkpoint keeps the daemon's durable state in one bbolt file,
// <state-dir>/state.db, so that a restart of the daemon (even a SIGKILL)
// loses nothing.
//
// The package is a leaf: it stores bytes and knows nothing of what they
// mean. Its callers encode and decode them (the daemon package wires an
// informer's checkpoint and the controller's journal records to it). The
// file holds:
//
//   - per engine, the bytes of an informer.Checkpoint: the TimeNano of the newest event
//     whose handling finished, the last events within the replay margin, the
//     engine time to replay from when no event was ever seen, the containers
//     as those events left them, and their ledger (what was known of their
//     runs). A restarted informer replays from there and diffs its first list
//     against those containers;
//   - the journal of pending deliveries: each delivery the controller accepted
//     and that has not succeeded or been given up yet, keyed by a sequence
//     number (their order), with its event (and so its EVENT_ID) and the
//     attempts made;
//   - per state rule, the hash of the set of its last successful run;
//   - the completed deliveries, under a key the controller chooses (rule,
//     engine, EVENT_ID): CompleteDelivery removes a pending delivery and adds
//     its record in the same commit, so that an event the engine replays
//     after a crash does not run it again. The controller bounds them
//     (ForgetCompleted).
//
// Writing is behind the callers but ahead of the checkpoints. PutDelivery and
// DeleteDelivery only record the change in memory and return (the
// controller's Handle must stay fast); Run commits the changes in batches as
// they come (a group commit: one fsync for everything that arrived during the
// previous one), and writes the engines' checkpoints every interval. A
// checkpoint commit reads the informers' checkpoints first and takes the
// journal changes after, in the same transaction: every delivery of an event
// a checkpoint covers is on disk no later than that checkpoint.
//
// Open refuses, with an error that names the file and says what to do, a
// file that another process holds (bbolt's lock), that bbolt cannot read
// (its meta pages, checksums and page check), that has another schema, or
// whose records do not decode. It never starts fresh over a file it cannot
// read.
package checkpoint
