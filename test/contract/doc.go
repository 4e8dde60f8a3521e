// Package contract checks that hack/fakeengine, the fake Docker engine the
// benchmarks run on, behaves like a real dockerd where docker-eventsd can
// tell: the same operations, made with the same client on a real engine and
// on the fake, must give the informer the same events (actions, containers,
// labels, exit codes, health, attributes) and the same cache, and the API's
// JSON must have the same shape.
//
// With the test engines (EVENTSD_TEST_ENGINES, see test/e2e/testenv) the
// real engine and the fake are compared directly. Without them the fake is
// compared with testdata/, which a run on a real engine writes with
// -update.
package contract
