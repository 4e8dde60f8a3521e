#!/usr/bin/env bash
# hack/etcd-cluster.sh: a throwaway three-member etcd cluster for the HA tests
# (issue 14, docs/HA.md), Debian's etcd-server on loopback ports.
#
# Member N (1-3) listens for clients on 127.0.0.1:$((24700+N)) and for its
# peers on 127.0.0.1:$((24710+N)), keeps its data in $BASE/mN and logs to
# $BASE/mN.log; its pid is in $BASE/mN.pid.
#
#   hack/etcd-cluster.sh up        start the three members (removing any
#                                  leftover of an earlier run first), wait for
#                                  a healthy cluster, write $BASE/env
#   hack/etcd-cluster.sh down      stop every member, remove $BASE
#   hack/etcd-cluster.sh kill N    SIGKILL member N (its data stays)
#   hack/etcd-cluster.sh start N   start member N again, wait until it answers
#   hack/etcd-cluster.sh env       print the env file
#
# The env file sets EVENTSD_TEST_ETCD_CLUSTER to the three client URLs,
# comma-separated. Environment: EVENTSD_ETCD_CLUSTER_DIR (default
# /tmp/eventsd-etcd-cluster).
set -Eeuo pipefail
trap 'echo "etcd-cluster: error: \"$BASH_COMMAND\" failed (line $LINENO)" >&2' ERR

BASE=${EVENTSD_ETCD_CLUSTER_DIR:-/tmp/eventsd-etcd-cluster}
BASE=${BASE%/}
case $BASE in
/*) ;;
*) echo "etcd-cluster: EVENTSD_ETCD_CLUSTER_DIR must be absolute (got '$BASE')" >&2; exit 1 ;;
esac
case $BASE in
'' | / | /tmp | /var | /home | /root | /usr | /etc | /run) echo "etcd-cluster: refusing $BASE" >&2; exit 1 ;;
esac
CLIENT_BASE=24700
PEER_BASE=24710
MEMBERS=(1 2 3)
WAIT_SECS=30

log() { printf 'etcd-cluster: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

client_url() { echo "http://127.0.0.1:$((CLIENT_BASE + $1))"; }
peer_url() { echo "http://127.0.0.1:$((PEER_BASE + $1))"; }

endpoints() {
	local n out=
	for n in "${MEMBERS[@]}"; do out+=${out:+,}$(client_url "$n"); done
	echo "$out"
}

initial_cluster() {
	local n out=
	for n in "${MEMBERS[@]}"; do out+=${out:+,}m$n=$(peer_url "$n"); done
	echo "$out"
}

check_member() {
	case ${1:-} in
	1 | 2 | 3) ;;
	*) die "member must be 1, 2 or 3 (got '${1:-}')" ;;
	esac
}

pid_of() {
	local f=$BASE/m$1.pid
	[[ -f $f ]] && cat "$f"
}

running() {
	local pid
	pid=$(pid_of "$1") || return 1
	[[ -n $pid ]] && alive "$pid"
}

# alive: the process exists and is not a zombie (a member whose parent, an
# earlier run of this script, is gone is reparented, and a pid 1 that does
# not reap leaves it a zombie after SIGKILL).
alive() {
	kill -0 "$1" 2>/dev/null || return 1
	local state
	state=$(awk '{print $3}' "/proc/$1/stat" 2>/dev/null) || return 1
	[[ $state != Z ]]
}

start_member() {
	local n=$1 state=${2:-existing}
	running "$n" && return 0
	mkdir -p "$BASE"
	# Short heartbeat and election timeout: a lost member's leadership moves
	# within a second, as the HA tests' 2 s leases need.
	etcd --name "m$n" --data-dir "$BASE/m$n" \
		--listen-client-urls "$(client_url "$n")" --advertise-client-urls "$(client_url "$n")" \
		--listen-peer-urls "$(peer_url "$n")" --initial-advertise-peer-urls "$(peer_url "$n")" \
		--initial-cluster "$(initial_cluster)" --initial-cluster-state "$state" \
		--initial-cluster-token eventsd-test --heartbeat-interval 50 --election-timeout 500 \
		--max-txn-ops 1024 --log-level warn --logger zap \
		>"$BASE/m$n.log" 2>&1 &
	echo $! >"$BASE/m$n.pid"
}

wait_member() {
	local n=$1 i
	for ((i = 0; i < WAIT_SECS * 10; i++)); do
		if ETCDCTL_API=3 etcdctl --endpoints "$(client_url "$n")" --command-timeout=1s endpoint health >/dev/null 2>&1; then
			return 0
		fi
		running "$n" || die "member $n exited; see $BASE/m$n.log: $(tail -5 "$BASE/m$n.log" 2>/dev/null)"
		sleep 0.1
	done
	die "member $n not healthy after ${WAIT_SECS}s; see $BASE/m$n.log"
}

stop_member() {
	local n=$1 sig=${2:-TERM} pid i
	pid=$(pid_of "$n") || return 0
	[[ -n $pid ]] || return 0
	kill "-$sig" "$pid" 2>/dev/null || true
	for ((i = 0; i < 100; i++)); do
		alive "$pid" || break
		sleep 0.05
	done
	kill -KILL "$pid" 2>/dev/null || true
	rm -f "$BASE/m$n.pid"
}

cmd_down() {
	local n
	for n in "${MEMBERS[@]}"; do stop_member "$n"; done
	# Members of a run whose pid files are gone: found by their data dir.
	pkill_stale
	rm -rf "$BASE"
}

# pkill_stale stops etcd processes whose data directory is under $BASE,
# one pid at a time.
pkill_stale() {
	local pid
	for pid in $(pgrep -x etcd || true); do
		if tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q -- "--data-dir $BASE/m"; then
			kill -KILL "$pid" 2>/dev/null || true
		fi
	done
}

cmd_up() {
	command -v etcd >/dev/null || die "etcd not installed (Debian: apt-get install etcd-server)"
	cmd_down
	mkdir -p "$BASE"
	local n
	for n in "${MEMBERS[@]}"; do start_member "$n" new; done
	for n in "${MEMBERS[@]}"; do wait_member "$n"; done
	echo "EVENTSD_TEST_ETCD_CLUSTER=$(endpoints)" >"$BASE/env"
	log "up: $(endpoints)"
}

case ${1:-} in
up) cmd_up ;;
down) cmd_down ;;
kill)
	check_member "${2:-}"
	stop_member "$2" KILL
	;;
start)
	check_member "${2:-}"
	start_member "$2"
	wait_member "$2"
	;;
env) cat "$BASE/env" ;;
*)
	echo "usage: $0 up|down|env|kill N|start N" >&2
	exit 2
	;;
esac
