#!/usr/bin/env bash
# hack/dnsmasq.sh: a throwaway DNS server for docker-eventsd's tests (the DNS
# discovery source). Debian's dnsmasq on 127.0.0.1:24330 (UDP and TCP),
# answering only from $EVENTSD_DNS_DIR/records.conf (srv-host= and
# host-record= lines, dnsmasq's syntax), with no upstream and no /etc/hosts.
# The tests write records.conf and run `restart` to serve it (dnsmasq reads
# SRV records at start only).
#
#   hack/dnsmasq.sh up        start it with an empty records.conf (a stale one
#                             of an earlier run is removed first), write the env file
#   hack/dnsmasq.sh down      stop it and remove the directory
#   hack/dnsmasq.sh kill      SIGKILL it (an outage)
#   hack/dnsmasq.sh start     start it again on the same records.conf
#   hack/dnsmasq.sh restart   kill and start: serve records.conf as it is now
#   hack/dnsmasq.sh env       print the env file:
#                             EVENTSD_TEST_DNS=127.0.0.1:24330 and EVENTSD_DNS_DIR
#
# Environment: EVENTSD_DNS_DIR (default /tmp/eventsd-dns).
set -Eeuo pipefail

BASE=${EVENTSD_DNS_DIR:-/tmp/eventsd-dns}
BASE=${BASE%/}
case $BASE in /tmp/?* | /var/tmp/?*) ;; *)
	echo "dnsmasq: refusing EVENTSD_DNS_DIR=$BASE (want a directory under /tmp)" >&2
	exit 1
	;;
esac
PORT=24330
DNSMASQ=$(command -v dnsmasq || echo /usr/sbin/dnsmasq)
log() { printf 'dnsmasq: %s\n' "$*" >&2; }

pid() { [[ -f $BASE/pid ]] && cat "$BASE/pid"; }
alive() { local p; p=$(pid) && kill -0 "$p" 2>/dev/null; }

start() {
	mkdir -p "$BASE"
	touch "$BASE/records.conf"
	chmod 0755 "$BASE"
	chmod 0644 "$BASE/records.conf"
	setsid "$DNSMASQ" --keep-in-foreground --port="$PORT" --listen-address=127.0.0.1 \
		--bind-interfaces --no-resolv --no-hosts --no-poll --conf-file="$BASE/records.conf" \
		--user=root --pid-file= --local-ttl=0 --log-facility="$BASE/log" \
		</dev/null >>"$BASE/log" 2>&1 &
	echo $! >"$BASE/pid"
	for _ in $(seq 1 100); do
		if ss -lnu "sport = :$PORT" | grep -q ":$PORT"; then
			return 0
		fi
		alive || break
		sleep 0.1
	done
	log "did not start; its log:"
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
	printf 'EVENTSD_TEST_DNS=127.0.0.1:%s\nEVENTSD_DNS_DIR=%s\n' "$PORT" "$BASE" >"$BASE/env"
	log "up at 127.0.0.1:$PORT"
	;;
down)
	stop
	rm -rf "$BASE"
	;;
kill) stop ;;
start) alive || start ;;
restart)
	stop
	start
	;;
env) cat "$BASE/env" ;;
*)
	echo "usage: $0 up|down|kill|start|restart|env" >&2
	exit 2
	;;
esac
