// Package contract checks that internal/fakeengine, the fake Docker engine the
// benchmarks run on, behaves like a real dockerd where docker-eventsd can
// tell: the same operations, made with the same client on a real engine and
// on the fake, must give the informer the same events (actions, containers,
// labels, exit codes, health, attributes) and the same cache, and the API's
// JSON must have the same shape.
//
// The comparison is strict but where a real engine gives events in an order
// it does not define (see afterUnpause): there it accepts every order the
// real engine may give, and checks what it drops from the transcript. A run
// during which the informer lost the engine (the test engines are shared,
// and other packages' tests kill them) compares nothing and is run again.
//
// With the test engines (EVENTSD_TEST_ENGINES, see internal/testenv) the
// real engine and the fake are compared directly. Without them the fake is
// compared with testdata/, which a run on a real engine writes with
// -update.
package contract
