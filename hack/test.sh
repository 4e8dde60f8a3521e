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
# promtool) for the examples/monitoring tests, etcd-server, etcd-client,
# redis-server and dnsmasq for the discovery sources' tests, mariadb-server
# (mariadbd, the mariadb client) for the examples/mysql-failover test.
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
	etcd:etcd-server
	etcdctl:etcd-client
	redis-server:redis-server
	/usr/sbin/dnsmasq:dnsmasq
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
discovery_started=
etcd_cluster_started=
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
	# --- etcd, redis, dnsmasq: the discovery sources' real services
	if [[ -n $discovery_started ]]; then
		section "etcd, redis, dnsmasq down"
		"$ROOT/hack/etcd.sh" down || status=1
		"$ROOT/hack/redis.sh" down || status=1
		"$ROOT/hack/dnsmasq.sh" down || status=1
	fi
	# --- end etcd, redis, dnsmasq
	# --- etcd-cluster: always stopped
	if [[ -n $etcd_cluster_started ]]; then
		section "etcd cluster down"
		"$ROOT/hack/etcd-cluster.sh" down || status=1
	fi
	# --- end etcd-cluster
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

# --- etcd, redis, dnsmasq: the services behind the discovery sources' tests
# (hack/etcd.sh, hack/redis.sh, hack/dnsmasq.sh), unless EVENTSD_TEST_ETCD
# names them already; removed by cleanup.
if [[ -z ${EVENTSD_TEST_ETCD:-} ]]; then
	section "etcd, redis, dnsmasq up"
	discovery_started=1 # before up: a half-started set is removed too
	"$ROOT/hack/etcd.sh" up
	"$ROOT/hack/redis.sh" up
	"$ROOT/hack/dnsmasq.sh" up
	set -a
	# shellcheck source=/dev/null
	. "${EVENTSD_ETCD_DIR:-/tmp/eventsd-etcd}/env"
	# shellcheck source=/dev/null
	. "${EVENTSD_REDIS_DIR:-/tmp/eventsd-redis}/env"
	# shellcheck source=/dev/null
	. "${EVENTSD_DNS_DIR:-/tmp/eventsd-dns}/env"
	set +a
fi
# --- end etcd, redis, dnsmasq
# --- etcd-cluster: the three-member etcd of the HA tests (hack/etcd-cluster.sh),
# unless EVENTSD_TEST_ETCD_CLUSTER names one already; stopped by cleanup.
if [[ -z ${EVENTSD_TEST_ETCD_CLUSTER:-} ]]; then
	section "etcd cluster up"
	etcd_cluster_started=1 # before up: a half-started cluster is stopped too
	"$ROOT/hack/etcd-cluster.sh" up
	set -a
	# shellcheck source=/dev/null
	. "${EVENTSD_ETCD_CLUSTER_DIR:-/tmp/eventsd-etcd-cluster}/env"
	set +a
fi
# --- end etcd-cluster

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
