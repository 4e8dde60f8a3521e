// Package informer keeps, for one Docker engine, a cache of its containers and a
// stream of what happens to them.
//
// An Informer subscribes to the engine's event stream, lists its containers, and
// then follows the stream, applying each event to the cache and handing it to a
// Handler. A heartbeat pings the engine; when the ping fails or the stream breaks,
// the Informer emits engine_down, reconnects with jittered exponential backoff,
// replays what the engine still holds (since is inclusive: duplicates are dropped),
// relists, and synthesizes the transitions it could not see (a die for a container
// that stopped, a destroy for one that vanished, a start for one that appeared),
// then emits engine_up.
//
// With Options.Checkpoints, the Informer also keeps a Checkpoint (the newest event
// whose Handle returned, and the containers as the handled events left them) for
// the daemon to save; Options.Resume starts from a saved one: the first session
// replays from its last event and diffs the first list against its containers, so
// that what happened while the daemon was not running is synthesized too.
//
// The goroutine that reads the stream never waits on anything but the stream: it
// decodes (eventstream.Stream.Next, on this goroutine) and appends to an unbounded
// buffer, because the engine drops events for a subscriber that does not take them
// within 100 ms. The Informer type's doc lists its parts and their files.
package informer
