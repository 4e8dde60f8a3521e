// Package fakeengine serves fake Docker engines over HTTP, on loopback TCP
// ports or unix sockets, for benchmarks and contract tests of docker-eventsd.
//
// An Engine speaks the part of the Docker Engine API (as dockerd 20.10, API
// 1.41, answers it) that docker-eventsd and its tests use:
//
//   - HEAD and GET /_ping (with the Api-Version header the client negotiates
//     from), GET /version, GET /info (SystemTime: the engine clock that
//     docker-eventsd takes since from, and the container counts);
//   - GET /containers/json (all, limit, filters) and /containers/{id}/json,
//     with the JSON shape of a real engine;
//   - GET /events, streaming, with since (inclusive), until and filters, the
//     replay ring of the last 256 events, and dockerd's 100 ms rule: a
//     subscriber whose buffer of 1024 events is full gets 100 ms to take the
//     next one, which is then dropped for it (and counted);
//   - enough of the write side for tests to drive it with the same client as
//     a real engine: create, start, stop, restart, kill, pause, unpause,
//     rename, remove, exec (create and detached start).
//
// An engine answers as one Docker release, its Mode (Options.Mode, the
// command's -api): dockerd 20.10 / API 1.41 by default, or one mode per API
// version of Docker 25 to 29 (1.44 ... 1.51: Docker 25-28, accepting API 1.24
// and up; 1.52: Docker 29, accepting 1.44 and up). The mode sets the
// Api-Version header, /version's ApiVersion and MinAPIVersion, the release
// in /version, /info and Server, and the range of /vX.Y prefixes accepted: a
// version out of it is refused with 400 and dockerd's message ("client
// version 1.41 is too old. Minimum supported API version is 1.44, please
// upgrade your client to a newer version"). As dockerd's, an answer follows
// the version of its request: from API 1.52 on events leave out the legacy
// status, id and from fields, and inspect leaves out the deprecated
// top-level NetworkSettings fields (IPAddress, Gateway...), an empty
// Config.OnBuild and HostConfig.KernelMemoryTCP; a 1.52 engine negotiates
// the event stream's content type (application/x-ndjson, or
// application/json-seq with an RS before each record; application/json when
// the client accepts neither). SetMode switches an engine's release in
// place, as an upgrade does.
//
// Every path may carry an API version prefix (/v1.41/...). Containers do not
// run anything: a container runs until it is killed with SIGKILL (it ignores
// other signals, like a shell that is PID 1), except a command "exit N",
// "true" or "false", which ends as soon as it starts. Execs and health checks
// run a tiny interpreter over a per-container set of files: "touch P",
// "rm [-f] P", "test [!] -e P", "true", "false", "exit N"; anything else
// succeeds. Health checks emit exec_create, exec_start, exec_die and
// health_status on change, and follow dockerd's rules (starting on start,
// silently unhealthy while paused or stopped).
//
// A Server runs many engines and a control endpoint (/fake/stats,
// /fake/fault, /fake/load). Faults: refuse (connections refused), stall
// (connections accepted and never answered, streams silent), drop (event
// streams cut, engine healthy), and crash (connections cut, ring emptied,
// running containers found exited with 255 and no event, like dockerd killed
// with its host and started again).
// A load generator emits a configurable rate and mix of events (start, die,
// kill, health_status, exec noise) over the engines' containers, except those
// labelled NoLoadLabel.
//
// This is the project's one fake engine: the benchmarks (test/bench), the
// soak's volume engines (test/soak), the contract tests that hold it to a
// real dockerd (test/contract) use it, and its command,
// internal/fakeengine/cmd/fakeengine, serves it to a daemon binary
// (hack/bench.sh, or by hand).
//
// informer/informertest is not a second one. It fakes the Go interface
// informer.Client in process (no HTTP, no sockets: a call is a method call
// on a mutex-guarded state), so the informer's and the controller's unit
// tests drive every engine state deterministically and count the client calls
// (Calls, LastSince): a ring flushed at a chosen event, an outage that starts
// between two calls, a stream dropped with the engine healthy. Over a socket
// those tests would depend on the scheduler and the loopback stack, and they
// could not see which calls were made. It keeps the engine rules the informer
// relies on (the ring of 256, inclusive since, the server-side filters, the
// 100 ms drop rule) and nothing of the HTTP API; everything that crosses the
// wire is this package's, and test/contract checks it against dockerd.
package fakeengine
