#!/usr/bin/env bash
# hack/etcd.sh: a throwaway one-member etcd for docker-eventsd's tests (the
# etcd discovery source). Debian's etcd-server, on loopback ports 24310
# (clients) and 24311 (peers), its data under $EVENTSD_ETCD_DIR.
#
#   hack/etcd.sh up      start it (a stale one of an earlier run is removed
#                        first), wait until it answers, write the env file
#   hack/etcd.sh down    stop it and remove the directory
#   hack/etcd.sh kill    SIGKILL it (the data stays: an outage)
#   hack/etcd.sh start   start it again on the same data, wait until it answers
#   hack/etcd.sh env     print the env file: EVENTSD_TEST_ETCD=http://127.0.0.1:24310
#
# Environment: EVENTSD_ETCD_DIR (default /tmp/eventsd-etcd). (discovery/etcd_tls_test.go
# starts a TLS etcd of its own on 24312-24313.)
set -Eeuo pipefail

BASE=${EVENTSD_ETCD_DIR:-/tmp/eventsd-etcd}
BASE=${BASE%/}
case $BASE in /tmp/?* | /var/tmp/?*) ;; *)
	echo "etcd: refusing EVENTSD_ETCD_DIR=$BASE (want a directory under /tmp)" >&2
	exit 1
	;;
esac
CLIENT=http://127.0.0.1:24310
PEER=http://127.0.0.1:24311
log() { printf 'etcd: %s\n' "$*" >&2; }

pid() { [[ -f $BASE/pid ]] && cat "$BASE/pid"; }
alive() { local p; p=$(pid) && kill -0 "$p" 2>/dev/null; }

start() {
	mkdir -p "$BASE"
	setsid etcd --name eventsd-test --data-dir "$BASE/data" \
		--listen-client-urls "$CLIENT" --advertise-client-urls "$CLIENT" \
		--listen-peer-urls "$PEER" --initial-advertise-peer-urls "$PEER" \
		--initial-cluster "eventsd-test=$PEER" --log-level error \
		>>"$BASE/log" 2>&1 </dev/null &
	echo $! >"$BASE/pid"
	for _ in $(seq 1 100); do
		if ETCDCTL_API=3 etcdctl --endpoints "$CLIENT" --dial-timeout 1s endpoint health >/dev/null 2>&1; then
			return 0
		fi
		alive || break
		sleep 0.1
	done
	log "did not answer; its log:"
	tail -20 "$BASE/log" >&2
	return 1
}

stop() {
	local p
	if p=$(pid); then
		kill -9 "$p" 2>/dev/null || true
		for _ in $(seq 1 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
	fi
	rm -f "$BASE/pid"
}

case ${1:-} in
up)
	stop
	rm -rf "$BASE"
	start
	echo "EVENTSD_TEST_ETCD=$CLIENT" >"$BASE/env"
	log "up at $CLIENT"
	;;
down)
	stop
	rm -rf "$BASE"
	;;
kill) stop ;;
start) alive || start ;;
env) cat "$BASE/env" ;;
*)
	echo "usage: $0 up|down|kill|start|env" >&2
	exit 2
	;;
esac
