#!/usr/bin/env bash
# hack/bench.sh: the benchmarks of docs/BENCHMARKS.md, from one command
# (`make bench`).
#
# Builds docker-eventsd, the fake engine (internal/fakeengine/cmd/fakeengine)
# and the bench (test/bench/cmd/bench); starts a throwaway
# real engine of its own for P1 and P5 (name y, port 23775, under
# EVENTSD_ENGINES_DIR=/tmp/eventsd-bench, so the test engines a, b... are not
# disturbed) and always removes it; runs the bench with the real binary and
# the fake engines in a process of their own (P6, hot reload, runs the daemon
# in the bench's process: it calls Daemon.Reload, what SIGHUP calls). The
# tables go to stdout and to
# $EVENTSD_BENCH_OUT (default /tmp/eventsd-bench-results.md).
#
#   hack/bench.sh                      every benchmark (about 5 minutes)
#   hack/bench.sh -run p2,p4           some; other flags go to the bench too
#   hack/bench.sh -quick               tiny sizes: checks the harness only
#
# Environment: EVENTSD_BENCH_NO_ENGINE=1 runs P1 and P5 on a fake engine
# (no dockerd needed); EVENTSD_BENCH_OUT, EVENTSD_BENCH_WORK (kept when set).
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
	export PATH=/usr/local/go/bin:$PATH
fi

ENGINE_NAME=y
export EVENTSD_ENGINES_DIR=${EVENTSD_BENCH_ENGINES_DIR:-/tmp/eventsd-bench}
OUT=${EVENTSD_BENCH_OUT:-/tmp/eventsd-bench-results.md}
WORK=${EVENTSD_BENCH_WORK:-}
keep_work=1
if [[ -z $WORK ]]; then
	WORK=$(mktemp -d /tmp/eventsd-bench-work.XXXXXX)
	keep_work=
fi

started=
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	local status=$?
	trap - EXIT INT TERM
	if [[ -n $started ]]; then
		echo "=== bench engine down" >&2
		"$ROOT/hack/engines.sh" down || status=1
	fi
	[[ -n $keep_work ]] || rm -rf "$WORK"
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

echo "=== build" >&2
mkdir -p "$WORK/bin"
go build -o "$WORK/bin/docker-eventsd" ./cmd/docker-eventsd
go build -o "$WORK/bin/fakeengine" ./internal/fakeengine/cmd/fakeengine
go build -o "$WORK/bin/bench" ./test/bench/cmd/bench

args=(-daemon "$WORK/bin/docker-eventsd" -fakeengine "$WORK/bin/fakeengine" -work "$WORK/run" -json "$WORK/results.json")
if [[ ${EVENTSD_BENCH_NO_ENGINE:-} != 1 ]]; then
	echo "=== bench engine up ($ENGINE_NAME, $EVENTSD_ENGINES_DIR)" >&2
	started=1 # before up: a half-started engine is removed too
	"$ROOT/hack/engines.sh" up "$ENGINE_NAME"
	url=$(sed -n "s/^EVENTSD_TEST_ENGINES=$ENGINE_NAME=//p" "$EVENTSD_ENGINES_DIR/env")
	args+=(-engine "$url" -engine-name "$ENGINE_NAME" -enginectl "$ROOT/hack/engines.sh")
fi

echo "=== bench ${args[*]} $*" >&2
"$WORK/bin/bench" "${args[@]}" "$@" | tee "$OUT"
echo "=== results in $OUT" >&2
