#!/bin/sh
# render-upstreams.sh: point nginx at the web backends that run now.
#
# docker-eventsd runs it for the state rule web-backends (events.yml) with the
# set of running containers labelled lb=web: a JSON array on stdin and in the
# file $EVENTSD_STATE_FILE. It writes $NGINX_DIR/backends.conf, checks the
# whole nginx config with it (nginx -t), and reloads nginx if it runs. With no
# backend, backends.conf makes nginx answer 503.
#
# A backend runs with --network host and says its port in the label lb.port;
# its address is the host of its engine's URL ($ENGINE_<NAME>: 127.0.0.1 for
# tcp://127.0.0.1:23751 or a unix:// engine) and that port.
#
# Environment:
#   NGINX_DIR  nginx's directory (its -p prefix, holding nginx.conf); default:
#              the current directory
#   NGINX      the nginx binary; default: nginx from PATH, else /usr/sbin/nginx
# and, from docker-eventsd: EVENTSD_STATE_FILE, STATE_COUNT, STATE_HASH,
# EVENTSD_RULE, ENGINE_<NAME>.
#
# Exits non-zero when nginx rejects the config (the previous backends.conf is
# put back) or the reload fails: docker-eventsd then retries, and an equal set
# is never skipped as "already done" after a failure.
set -eu

dir=${NGINX_DIR:-$PWD}
nginx=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
state=${EVENTSD_STATE_FILE:-/dev/stdin}
conf=$dir/backends.conf

# One "server HOST:PORT; # NAME on ENGINE" line per backend, and warnings on
# stderr for containers that cannot be a backend.
#
# The set is compact JSON as docker-eventsd writes it: [{"id":...,"engine":
# ...,"name":...,"image":...,"labels":{...},"state":...},...]. A quote inside
# a string is always escaped (\"), so `},{"id":` only ever separates two
# containers, and `"lb.port":"` only ever starts that label: cutting there is
# safe whatever the labels hold. engine and name come before labels, so their
# first match is theirs.
servers=$(LC_ALL=C awk '
	{ text = text $0 }
	function field(o, key,    re) {
		re = key
		gsub(/\./, "[.]", re)
		re = "\"" re "\":\"[^\"]*\""
		if (!match(o, re)) return ""
		return substr(o, RSTART + length(key) + 4, RLENGTH - length(key) - 5)
	}
	END {
		gsub(/\},\{"id":/, "}\n{\"id\":", text)
		n = split(text, objs, "\n")
		for (i = 1; i <= n; i++) {
			o = objs[i]
			engine = field(o, "engine")
			if (engine == "") continue
			name = field(o, "name")
			if (name !~ /^[A-Za-z0-9][A-Za-z0-9_.-]*$/) name = "?"
			port = field(o, "lb.port")
			if (port !~ /^[0-9]+$/ || port + 0 < 1 || port + 0 > 65535) {
				printf "skipping %s on %s: label lb.port is not a port number\n", name, engine > "/dev/stderr"
				continue
			}
			var = "ENGINE_" toupper(engine)
			gsub(/[^A-Z0-9_]/, "_", var)
			url = ENVIRON[var]
			host = url
			sub(/^[a-z]+:\/\//, "", host)
			sub(/\/.*$/, "", host)
			if (url ~ /^unix:/) host = "127.0.0.1"
			else if (host ~ /^\[/) sub(/\]:[0-9]+$/, "]", host)
			else sub(/:[0-9]+$/, "", host)
			if (host !~ /^[][A-Za-z0-9.:-]+$/) {
				printf "skipping %s on %s: no host in the engine URL %s\n", name, engine, url > "/dev/stderr"
				continue
			}
			addr = host ":" (port + 0)
			if (addr in seen) continue
			seen[addr] = 1
			printf "    server %s;  # %s on %s\n", addr, name, engine
		}
	}
' "$state")

tmp=$(mktemp "$dir/.backends.conf.XXXXXX")
trap 'rm -f "$tmp"' EXIT
# shellcheck disable=SC2016 # nginx variables, written as they are
{
	echo "# Written by render-upstreams.sh ($(date -u +%Y-%m-%dT%H:%M:%SZ), rule ${EVENTSD_RULE:-none}, set ${STATE_HASH:-none}). Do not edit."
	if [ -n "$servers" ]; then
		# $web_upstream names the upstream that nginx.conf proxies to.
		echo 'map $host $web_upstream { default web; }'
		echo 'upstream web {'
		echo "$servers"
		echo '}'
	else
		echo '# No web backend runs: nginx.conf answers 503.'
		echo 'map $host $web_upstream { default ""; }'
	fi
} >"$tmp"
chmod 644 "$tmp"

# Put the new file in place, and the old one back if nginx rejects the result.
[ ! -f "$conf" ] || cp -p "$conf" "$conf.prev"
mv -f "$tmp" "$conf"
if ! out=$("$nginx" -p "$dir" -c "$dir/nginx.conf" -t -q 2>&1); then
	echo "nginx rejects the new backends.conf: $out" >&2
	if [ -f "$conf.prev" ]; then mv -f "$conf.prev" "$conf"; else rm -f "$conf"; fi
	exit 1
fi
rm -f "$conf.prev"

count=$(printf '%s' "$servers" | grep -c . || true)
if [ -f "$dir/nginx.pid" ] && kill -0 "$(cat "$dir/nginx.pid")" 2>/dev/null; then
	"$nginx" -p "$dir" -c "$dir/nginx.conf" -s reload
	echo "nginx reloaded with $count backend(s) for ${STATE_COUNT:-?} container(s)"
else
	echo "nginx is not running: wrote $count backend(s); it reads them when it starts"
fi
[ -z "$servers" ] || echo "$servers"
