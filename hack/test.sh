#!/usr/bin/env bash
# hack/test.sh: the one test command (`make test`).
#
# Installs the Debian packages its tests need when they are missing (as root,
# like hack/engines.sh deps and .ci/run; EVENTSD_NO_INSTALL=1 only reports
# them), checks gofmt and go vet, starts two throwaway Docker engines
# (hack/engines.sh up 2) and a Podman engine (hack/podman.sh up), runs
# `go test -race` on every package against them, and always removes the
# engines, even when tests fail or on Ctrl-C. A full
# run first fuzzes every go test -fuzz target for 5s (hack/fuzz.sh; FUZZTIME
# sets the time, FUZZTIME=0 skips it).
#
#   hack/test.sh                      all packages
#   hack/test.sh -run TestFoo -v      extra go test flags
#   hack/test.sh ./informer/...       given packages instead of ./...
#
# Engines already described by EVENTSD_TEST_ENGINES (hack/engines.sh up, then
# `set -a; . /tmp/eventsd-engines/env; set +a`) are used as they are and left
# running. EVENTSD_KEEP_ENGINES=1 keeps the engines this script starts.
# Exits with go test's status.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
	export PATH=/usr/local/go/bin:$PATH
fi

section() { printf '\n=== %s\n' "$*"; }

# --- packages: what the tests need, so that none is skipped on a fresh
# machine. Each line: a program (or path) and the Debian package that has it:
# docker.io and busybox-static for the engines, podman (with runc) for the
# Podman engine, nginx-light for the examples/loadbalancer test, ssh and sshd
# for ssh:// engines, gcc for go test -race (cgo), prometheus (prometheus and
# promtool) for the examples/monitoring tests, mariadb-server (mariadbd, the
# mariadb client) for the examples/mysql-failover test.
section "packages"
packages=(
	dockerd:docker.io
	/bin/busybox:busybox-static
	podman:podman
	runc:runc
	/usr/sbin/nginx:nginx-light
	ssh:openssh-client
	/usr/sbin/sshd:openssh-server
	gcc:gcc
	promtool:prometheus
	/usr/sbin/mariadbd:mariadb-server
	mariadb:mariadb-client
)
need=()
for p in "${packages[@]}"; do
	prog=${p%%:*}
	if [[ $prog == /* ]]; then [[ -x $prog ]] && continue; else command -v "$prog" >/dev/null 2>&1 && continue; fi
	need+=("${p#*:}")
done
if ((${#need[@]} == 0)); then
	echo "installed: ${packages[*]#*:}"
elif [[ $(id -u) == 0 && ${EVENTSD_NO_INSTALL:-} != 1 ]] && command -v apt-get >/dev/null 2>&1; then
	echo "installing: ${need[*]}"
	export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
	apt-get update -qq || { sleep 5; apt-get update -qq; }
	apt-get install -y -qq "${need[@]}" >/dev/null
else
	echo "missing: ${need[*]} (run as root to install them with apt-get); the tests that need them skip, or fail in CI" >&2
fi
# --- end packages

section "gofmt"
mapfile -t unformatted < <(find . -name '*.go' -not -path './.git/*' -not -path './vendor/*' \
	-not -path '*/testdata/*' -print0 | xargs -0 -r gofmt -l)
if ((${#unformatted[@]})); then
	echo "these files need gofmt -w:" >&2
	printf '  %s\n' "${unformatted[@]}" >&2
	exit 1
fi

section "go vet"
go vet ./...

started=
podman_started=
# shellcheck disable=SC2317 # invoked by the trap
cleanup() {
	local status=$?
	trap - EXIT INT TERM
	# --- podman: always removed, even with EVENTSD_KEEP_ENGINES=1
	if [[ -n $podman_started ]]; then
		section "podman down"
		"$ROOT/hack/podman.sh" down || status=1
	fi
	# --- end podman
	if [[ -n $started ]]; then
		if [[ ${EVENTSD_KEEP_ENGINES:-} == 1 ]]; then
			section "engines kept (EVENTSD_KEEP_ENGINES=1): $EVENTSD_TEST_ENGINES"
		else
			section "engines down"
			"$ROOT/hack/engines.sh" down || status=1
		fi
	fi
	exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

if [[ -z ${EVENTSD_TEST_ENGINES:-} ]]; then
	section "engines up"
	started=1 # before up: a half-started set of engines is removed too
	"$ROOT/hack/engines.sh" up 2
	envfile=${EVENTSD_ENGINES_DIR:-/tmp/eventsd-engines}/env
	set -a
	# shellcheck source=/dev/null
	. "$envfile"
	set +a
else
	section "using engines $EVENTSD_TEST_ENGINES"
fi

# --- podman: the Podman engine of test/e2e's Podman tests (hack/podman.sh),
# unless EVENTSD_TEST_PODMAN names one already; removed by cleanup.
if [[ -z ${EVENTSD_TEST_PODMAN:-} ]]; then
	section "podman up"
	podman_started=1 # before up: a half-started engine is removed too
	"$ROOT/hack/podman.sh" up
	set -a
	# shellcheck source=/dev/null
	. "${EVENTSD_PODMAN_DIR:-/tmp/eventsd-podman}/env"
	set +a
fi
# --- end podman

pkgs=(./...)
for a in "$@"; do
	case $a in
	./* | ../* | github.com/*) pkgs=() ;;
	esac
done

# --- fuzz: a few seconds of every go test -fuzz target (hack/fuzz.sh), on a
# full run only; FUZZTIME=0 skips it.
if (($# == 0)) && [[ ${FUZZTIME:-5s} != 0 ]]; then
	section "fuzz: every target for ${FUZZTIME:-5s} (hack/fuzz.sh)"
	"$ROOT/hack/fuzz.sh"
fi
# --- end fuzz

section "go test -race -count=1 -timeout 15m $* ${pkgs[*]}"
set +e
go test -race -count=1 -timeout 15m "$@" "${pkgs[@]}"
status=$?
set -e
exit "$status"
