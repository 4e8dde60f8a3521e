// Package daemon puts docker-eventsd together, as controller-runtime's
// Manager does a controller: New builds, from a config and Options, the
// durable store (package checkpoint), the handler runner (package
// reconcile), the controller and one informer per engine, and Run runs them.
// It is the only code that knows the order of start-up, of shutdown and of
// the durable commits; cmd/docker-eventsd keeps flags, logging and signals,
// and the benchmarks and the soak build their daemon here too.
//
// Start-up (New, then Run):
//
//  1. the state file is opened and read: the engines' checkpoints (the
//     replay point of each), the journal of pending deliveries, the state
//     rules' records; checkpoints of engines no longer configured are
//     forgotten;
//  2. the controller is built, with the store as its journal, and the
//     deliveries an earlier run left pending are queued first (Recover);
//  3. the engines are built into the registry, each informer handing its
//     events to the controller it was given at construction (the controller
//     exists first: nothing is captured before it is assigned);
//  4. Run starts the store's writer, then the engines, then the
//     controller's workers.
//
// Shutdown, when Run's context is done, is the reverse: the engines stop and
// their goroutines are waited for, then the controller stops taking events
// and waits for its running handlers (up to the shutdown timeout), then the
// store writes what is left (Flush) and is closed. An event an informer
// handed on is thus never ignored, and a checkpoint never covers an event
// whose deliveries were not journaled.
//
// Durable commits: the controller journals a delivery (Store.PutDelivery)
// before Handle returns; an informer moves its checkpoint past an event only
// after Handle returned; a checkpoint commit reads the checkpoints first and
// takes the journal changes after, in one transaction. So the journal is
// always ahead of the checkpoints.
//
// The engines live in a registry that can add, replace and remove one
// engine while the daemon runs (AddEngine, ReplaceEngine, RemoveEngine):
// each engine has its own goroutines, cache and replay point; removing one
// stops it and waits for its goroutines, and its containers leave the view
// of the state rules, which read the engines through the registry.
package daemon
