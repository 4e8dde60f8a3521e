// Package e2e runs the docker-eventsd binary against the real dockerd engines that
// hack/engines.sh starts (their addresses come in EVENTSD_TEST_ENGINES) and checks
// what its handlers saw. Without engines the tests skip, except in CI, where they
// fail.
package e2e
