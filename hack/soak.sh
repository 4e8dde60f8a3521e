#!/usr/bin/env bash
# hack/soak.sh: the fault-injection soak of docker-eventsd, long form.
#
# Starts three throwaway engines of its own (hack/engines.sh up p q r, under
# EVENTSD_ENGINES_DIR=/tmp/eventsd-soak: never the test engines a and b),
# builds the daemon (with -race) and the soak command (test/soak/cmd/soak),
# runs the soak, and always removes the engines, even on failure or Ctrl-C.
# Needs root, like the test engines.
#
#   hack/soak.sh                           chaos for 25 minutes (~50 engine kills)
#   hack/soak.sh -duration 5m              shorter
#   hack/soak.sh -mode slow -duration 60s  slow handlers under an event flood
#   SOAK_WORK=/tmp/soak hack/soak.sh       keep the work directory there
#
# Arguments go to the soak command (go run ./test/soak/cmd/soak -h lists
# them). The report is printed at the end and written to
# $SOAK_WORK/report.json; the exit status is the soak's: 0 when nothing was
# lost and nothing is unexplained. docs/RELIABILITY.md records the numbers of
# a long run.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
	export PATH=/usr/local/go/bin:$PATH
fi
export EVENTSD_ENGINES_DIR=${SOAK_ENGINES_DIR:-/tmp/eventsd-soak}
# One soak at a time on these engines: another one would kill and remove them.
exec 8>"$EVENTSD_ENGINES_DIR.lock"
if ! flock -n 8; then
	echo "soak.sh: another soak uses $EVENTSD_ENGINES_DIR (lock $EVENTSD_ENGINES_DIR.lock)" >&2
	exit 2
fi
WORK=${SOAK_WORK:-$(mktemp -d /tmp/eventsd-soak-work.XXXXXX)}
mkdir -p "$WORK"

# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	local status=$?
	trap - EXIT INT TERM
	echo "soak.sh: removing the engines ($EVENTSD_ENGINES_DIR)" >&2
	"$ROOT/hack/engines.sh" down || status=1
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$ROOT/hack/engines.sh" up p q r
go build -race -o "$WORK/docker-eventsd" ./cmd/docker-eventsd
go build -o "$WORK/soak" ./test/soak/cmd/soak

args=(-engines-dir "$EVENTSD_ENGINES_DIR" -daemon "$WORK/docker-eventsd" -work "$WORK")
has_duration=
for a in "$@"; do [[ $a == -duration || $a == -duration=* || $a == --duration* ]] && has_duration=1; done
[[ -n $has_duration ]] || args+=(-duration 25m)
set +e
"$WORK/soak" "${args[@]}" "$@"
status=$?
set -e
echo "soak.sh: work directory $WORK (report.json, ledger.txt, daemon-N.log)" >&2
exit "$status"
