// Package ha makes replicas of docker-eventsd share one etcd cluster so that
// the daemon is no single point of failure (issue 14, docs/HA.md).
//
// Every replica runs its informers and keeps its caches and its queue of
// pending deliveries warm; one of them, elected with
// go.etcd.io/etcd/client/v3/concurrency on a session lease, runs handlers.
// The Elector is that election, seen by the controller as a gate before
// each handler start (controller.Gate): Allowed reports whether this
// replica leads, with the fence token of its leadership (the etcd revision
// at which its leader key was created, which grows from one leader to the
// next).
//
// The lease is checked by this replica's own monotonic clock: every renewal
// is timed from before its request was sent, and the leader counts itself
// valid until that time plus the TTL the server granted, minus a margin. A
// leader paused (SIGSTOP), cut off from etcd, or whose session ended thus
// stops starting handlers before etcd can let its lease expire, and so
// before another replica can be elected; it then gives up its session and
// campaigns again with a new one, which a new leadership's token shows.
//
// Two traps of the concurrency package are avoided: a Campaign blocked
// behind the current leader does not end when its own session does (its
// context is cancelled when the session's Done fires), and Observe does not
// report a leader key deleted with no successor (the leader is read again
// on every change under the election prefix instead).
//
// The shared journal (the pending deliveries, the completed ones and the
// engines' replay points, written only in transactions guarded by the
// leader key) is checkpoint.EtcdStore; this package gives it its guard.
//
// Shard mode (Sharder, shard.go) shares the engines' event rules among the
// live replicas: each engine is owned by the member rendezvous hashing
// (Owner) gives it, through a key under the owner's lease; state rules run
// on a replica elected as in leader mode.
package ha
