// Package informertest provides a fake Docker engine for informer tests: an
// in-memory implementation of informer.Client with the engine's replay ring, its
// inclusive since, its server-side filters, and faults a real engine only shows
// under stress (a dropped stream, an outage, a stall).
package informertest
