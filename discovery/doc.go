// Package discovery finds Docker engines in places other than the config's
// cluster:: a YAML file (file.go), etcd keys under a prefix (etcd.go), a
// Redis hash (redis.go) and the targets of a DNS SRV name (dns.go).
//
// Each is a Source: Run follows it until its context is done and pushes,
// each time something may have changed, the full set of engines the source
// gives now, never a delta. The daemon (daemon/discovery.go) makes that set
// the source's share of the running engines, which it applies as a diff.
//
// A source that cannot be reached pushes nothing: the last set it pushed
// stays in force, and it is retried with backoff (500 ms growing to 30 s);
// once it is back, it pushes its full set again, so that what changed during
// the outage is applied then. Every entry is checked as an engine of
// cluster: is (config.ParseSourceEngine, config.Loader.ParseEngineFile); a
// bad one is logged with its source and key, and left out of the set,
// without stopping the others.
package discovery
