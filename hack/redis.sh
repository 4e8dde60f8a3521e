#!/usr/bin/env bash
# hack/redis.sh: a throwaway Redis for docker-eventsd's tests (the Redis
# discovery source). Debian's redis-server on 127.0.0.1:24320, its append-only
# file (fsync always) under $EVENTSD_REDIS_DIR, so that a kill and a start
# keep every key, as a real server with persistence does.
#
#   hack/redis.sh up      start it (a stale one of an earlier run is removed
#                         first), wait until it answers, write the env file
#   hack/redis.sh down    stop it and remove the directory
#   hack/redis.sh kill    SIGKILL it (the data stays: an outage)
#   hack/redis.sh start   start it again on the same data, wait until it answers
#   hack/redis.sh env     print the env file: EVENTSD_TEST_REDIS=redis://127.0.0.1:24320/0
#
# Environment: EVENTSD_REDIS_DIR (default /tmp/eventsd-redis).
set -Eeuo pipefail

BASE=${EVENTSD_REDIS_DIR:-/tmp/eventsd-redis}
BASE=${BASE%/}
case $BASE in /tmp/?* | /var/tmp/?*) ;; *)
	echo "redis: refusing EVENTSD_REDIS_DIR=$BASE (want a directory under /tmp)" >&2
	exit 1
	;;
esac
PORT=24320
log() { printf 'redis: %s\n' "$*" >&2; }

pid() { [[ -f $BASE/pid ]] && cat "$BASE/pid"; }
alive() { local p; p=$(pid) && kill -0 "$p" 2>/dev/null; }

start() {
	mkdir -p "$BASE"
	setsid redis-server --port "$PORT" --bind 127.0.0.1 --dir "$BASE" \
		--appendonly yes --appendfsync always --save "" --daemonize no \
		--logfile "$BASE/log" </dev/null >/dev/null 2>&1 &
	echo $! >"$BASE/pid"
	for _ in $(seq 1 100); do
		[[ $(redis-cli -p "$PORT" ping 2>/dev/null) == PONG ]] && return 0
		alive || break
		sleep 0.1
	done
	log "did not answer; its log:"
	tail -20 "$BASE/log" >&2 || true
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
	echo "EVENTSD_TEST_REDIS=redis://127.0.0.1:$PORT/0" >"$BASE/env"
	log "up at 127.0.0.1:$PORT"
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
