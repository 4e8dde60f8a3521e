#!/usr/bin/env bash
# hack/demo.sh: docker-eventsd's main job, on a local engine, in about 20 seconds.
#
# Uses the engine at $DOCKER_HOST (else unix:///var/run/docker.sock) when one
# answers; otherwise starts a throwaway engine "z" (hack/engines.sh, as root) under
# /tmp/eventsd-demo and removes it at the end. Then it runs the daemon on a small
# events.yml, starts, crashes and kills a few containers, and stops the daemon.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
export PATH=/usr/local/go/bin:$PATH

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
docker_bin() { if [[ -x /usr/bin/docker ]]; then echo /usr/bin/docker; else command -v docker; fi; }

[[ -x bin/docker-eventsd ]] || go build -o bin/docker-eventsd ./cmd/docker-eventsd

host=${DOCKER_HOST:-unix:///var/run/docker.sock}
docker=$(docker_bin 2>/dev/null || true)
if [[ -n $docker ]] && timeout 5 "$docker" -H "$host" version >/dev/null 2>&1; then
	say "using the engine at $host"
else
	say "no engine answers at $host: starting a throwaway one"
	export EVENTSD_ENGINES_DIR=/tmp/eventsd-demo
	trap 'say "removing the throwaway engine"; hack/engines.sh down' EXIT
	hack/engines.sh up z
	docker=$(docker_bin)
	host=tcp://127.0.0.1:23776
fi
image=eventsd-busybox:latest
if ! "$docker" -H "$host" image inspect "$image" >/dev/null 2>&1; then
	say "building $image offline from Debian's busybox-static"
	[[ -x /bin/busybox ]] || hack/engines.sh deps
	ctx=$(mktemp -d)
	cp /bin/busybox "$ctx/busybox"
	printf 'FROM scratch\nCOPY busybox /bin/busybox\nRUN ["/bin/busybox", "--install", "-s", "/bin"]\n' >"$ctx/Dockerfile"
	DOCKER_BUILDKIT=0 "$docker" -H "$host" build -q -t "$image" "$ctx" >/dev/null
	rm -rf "$ctx"
fi

work=$(mktemp -d)
cat >"$work/events.yml" <<YAML
cluster:
  local: $host

events:
  - name: announce
    type: start, die
    command: 'echo "\$EVENT_ACTION of \$FROM_CONTAINER on \$FROM_ENGINE (exit code: \${CONTAINER_EXIT_CODE:-none})"'
  - name: crashed
    type: die
    labels: {demo: ""}
    exit_code: [1, 2, 3]
    log: a demo container crashed
    retry: {max_attempts: 2, backoff: 500ms}
    command: 'echo "the JSON on stdin says: \$(head -c 300)"'
YAML
say "events.yml"
cat "$work/events.yml"

say "running: bin/docker-eventsd $work/events.yml"
bin/docker-eventsd "$work/events.yml" &
daemon=$!
cleanup_demo() {
	"$docker" -H "$host" rm -f demo-web demo-crash >/dev/null 2>&1 || true
	kill "$daemon" 2>/dev/null || true
	rm -rf "$work"
}
trap 'cleanup_demo; if [[ ${EVENTSD_ENGINES_DIR:-} == /tmp/eventsd-demo ]]; then say "removing the throwaway engine"; hack/engines.sh down; fi' EXIT
sleep 2

say "docker run demo-web (sleeps), demo-crash (exits 3)"
"$docker" -H "$host" run -d --network none --name demo-web --label demo=1 --label role=web "$image" sleep 600 >/dev/null
"$docker" -H "$host" run -d --network none --name demo-crash --label demo=1 --label role=worker "$image" sh -c 'sleep 1; exit 3' >/dev/null
sleep 3
say "docker kill demo-web"
"$docker" -H "$host" kill demo-web >/dev/null
sleep 2
say "docker rm demo-web demo-crash (destroy: no rule catches it)"
"$docker" -H "$host" rm demo-web demo-crash >/dev/null
sleep 1

say "stopping the daemon (SIGTERM)"
kill -TERM "$daemon"
wait "$daemon" || true
