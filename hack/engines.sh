#!/usr/bin/env bash
# hack/engines.sh: throwaway Docker engines for docker-eventsd's tests.
#
# Each engine is a real dockerd (Debian's docker.io) with its own data-root,
# exec-root, managed containerd, unix socket and TCP port on 127.0.0.1, all
# under $EVENTSD_ENGINES_DIR/NAME. Nothing outside that directory is used,
# except the engine's cgroup (/eventsd-NAME in each hierarchy).
#
#   hack/engines.sh up [N]    start N engines (default 2) named a, b, ...
#   hack/engines.sh up NAME.. start the engines with these one-letter names
#                             on ports 23751, 23752, ... and build the test
#                             image on each; write $EVENTSD_ENGINES_DIR/env
#   hack/engines.sh down      remove every engine: containers, processes,
#                             mounts, directories
#   hack/engines.sh kill NAME SIGKILL the whole engine (dockerd, containerd,
#                             shims, containers, paused ones too): the host
#                             died; fails if any of its processes survives
#   hack/engines.sh start NAME  start an engine again, wait until it answers
#   hack/engines.sh stop NAME   graceful stop (SIGTERM), wait until it is gone
#   hack/engines.sh status      one line per engine
#   hack/engines.sh env         print the env file
#   hack/engines.sh deps        install docker.io and busybox-static if missing
#
# Environment: EVENTSD_ENGINES_DIR (default /tmp/eventsd-engines).
set -Eeuo pipefail
trap 'echo "engines: error: \"$BASH_COMMAND\" failed (line $LINENO)" >&2' ERR

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
BASE=${EVENTSD_ENGINES_DIR:-/tmp/eventsd-engines}
BASE_PORT=23750 # engine a is BASE_PORT+1
IMAGE=eventsd-busybox:latest
WAIT_SECS=60
LETTERS=abcdefghijklmnopqrstuvwxyz

log() { printf 'engines: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

# ---------------------------------------------------------------- setup

check_base() {
	case $BASE in
	/*) ;;
	*) die "EVENTSD_ENGINES_DIR must be an absolute path (got '$BASE')" ;;
	esac
	BASE=${BASE%/}
	case $BASE in
	'' | / | /tmp | /var | /home | /root | /usr | /etc) die "refusing EVENTSD_ENGINES_DIR=$BASE" ;;
	esac
}

# docker_bin prints the docker CLI to use: Debian's, matching its dockerd.
docker_bin() {
	if [[ -x /usr/bin/docker ]]; then
		echo /usr/bin/docker
	else
		command -v docker || die "no docker CLI found"
	fi
}

cmd_deps() {
	local missing=()
	command -v dockerd >/dev/null 2>&1 || missing+=(docker.io)
	[[ -x /bin/busybox ]] || missing+=(busybox-static)
	if ((${#missing[@]})); then
		[[ $(id -u) == 0 ]] || die "need root to install ${missing[*]}"
		log "installing ${missing[*]}"
		export DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1
		apt-get update -qq || apt-get update -qq
		apt-get install -y -qq "${missing[@]}" >/dev/null
	fi
	command -v dockerd >/dev/null 2>&1 || die "dockerd still missing"
	# dockerd needs cgroups: mount the v1 hierarchies unless something
	# (init, cgroupfs-mount) already did, or the machine is cgroup v2 only.
	if ! grep -qE '^[^ ]+ /sys/fs/cgroup(/[^ ]+)? cgroup2? ' /proc/self/mounts; then
		if command -v cgroupfs-mount >/dev/null 2>&1; then
			log "mounting cgroups (cgroupfs-mount)"
			cgroupfs-mount
		else
			log "warning: no cgroup filesystem mounted; dockerd may fail"
		fi
	fi
}

# ---------------------------------------------------------------- engines

valid_name() {
	[[ $1 =~ ^[a-z]$ ]] || die "bad engine name '$1' (want a single letter a-z)"
}

dir_of() { echo "$BASE/$1"; }

port_of() {
	local d
	d=$(dir_of "$1")
	if [[ -s $d/port ]]; then
		cat "$d/port"
	else
		local i=${LETTERS%%"$1"*}
		echo $((BASE_PORT + 1 + ${#i}))
	fi
}

url_of() { echo "tcp://127.0.0.1:$(port_of "$1")"; }

# known_engines lists the engines that have a directory under BASE.
known_engines() {
	local d
	for d in "$BASE"/?/; do
		[[ -d $d ]] || continue
		d=${d%/}
		echo "${d##*/}"
	done
}

# cmdline PID prints the process's command line, arguments joined by spaces.
cmdline() {
	local -a args=()
	mapfile -d '' args 2>/dev/null <"/proc/$1/cmdline" || return 1
	((${#args[@]})) || return 1
	echo "${args[*]}"
}

# pids_with SUBSTRING...: processes whose command line holds every SUBSTRING.
pids_with() {
	local p c s ok
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[[ $p == "$$" || $p == "$BASHPID" ]] && continue
		c=$(cmdline "$p") || continue
		ok=1
		for s in "$@"; do
			[[ $c == *"$s"* ]] || {
				ok=
				break
			}
		done
		[[ -n $ok ]] && echo "$p"
	done
	return 0
}

# dockerd_pids NAME: the engine's dockerd processes (normally zero or one).
dockerd_pids() {
	local d p
	d=$(dir_of "$1")
	for p in $(pids_with "--data-root $d/root " "--exec-root $d/exec "); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == dockerd ]] && echo "$p"
	done
	return 0
}

# engine_pids EXECROOT CGPARENT: every process of the engine except dockerd:
# its managed containerd, the shims, the containers' processes.
engine_pids() {
	local execroot=$1 cg=$2 m f
	# Guards: an empty or odd argument must never widen the match (an empty
	# cgroup would mean every process of the machine).
	if [[ $execroot == /?*/exec ]]; then
		pids_with "containerd --config $execroot/containerd/containerd.toml"
		pids_with "containerd-shim" "-address $execroot/containerd/containerd.sock"
	fi
	[[ $cg =~ ^/eventsd-[a-z]$ ]] || return 0
	# Containers' processes, from the engine's own cgroup in each hierarchy.
	while read -r _ m _; do
		[[ -d $m$cg ]] || continue
		while IFS= read -r -d '' f; do
			cat "$f" 2>/dev/null || true
		done < <(find "$m$cg" -name cgroup.procs -print0 2>/dev/null)
	done < <(awk '$3 == "cgroup" || $3 == "cgroup2"' /proc/self/mounts)
}

alive() { [[ -n $1 && -d /proc/$1 ]]; }

# wait_gone SECS PID...: wait until all PIDs are gone; status 1 on timeout.
wait_gone() {
	local secs=$1 i p left
	shift
	for ((i = 0; i < secs * 10; i++)); do
		left=
		for p in "$@"; do alive "$p" && left=1; done
		[[ -z $left ]] && return 0
		sleep 0.1
	done
	return 1
}

# kill_all SIGNAL PIDS...: signal the PIDS, never init nor this script.
kill_all() {
	local sig=$1 p pids=()
	shift
	for p in "$@"; do
		if [[ $p =~ ^[0-9]+$ ]] && ((p > 1 && p != $$)); then pids+=("$p"); fi
	done
	((${#pids[@]})) || return 0
	kill "-$sig" "${pids[@]}" 2>/dev/null || true
}

# thaw CGPARENT: thaw the engine's cgroup and every cgroup below it, in each
# hierarchy (cgroup v1: freezer.state THAWED; v2: cgroup.freeze 0). The
# processes of a paused container are frozen: a SIGKILL stays pending until
# they are thawed, and they never die while their engine is gone.
thaw() {
	local cg=$1 m f
	[[ $cg =~ ^/eventsd-[a-z]$ ]] || return 0
	while read -r _ m _; do
		[[ -d $m$cg ]] || continue
		while IFS= read -r -d '' f; do
			case $f in
			*/freezer.state) echo THAWED >"$f" 2>/dev/null || true ;;
			*/cgroup.freeze) echo 0 >"$f" 2>/dev/null || true ;;
			esac
		done < <(find "$m$cg" \( -name freezer.state -o -name cgroup.freeze \) -print0 2>/dev/null)
	done < <(awk '$3 == "cgroup" || $3 == "cgroup2"' /proc/self/mounts)
}

# kill_tree EXECROOT CGPARENT: SIGKILL everything of an engine but dockerd,
# thawing its cgroups so that the kill lands, repeating until nothing is
# left (a shim may be starting a container). Status 1 when processes
# survive.
kill_tree() {
	local i pids
	for ((i = 0; i < 20; i++)); do
		pids=$(engine_pids "$1" "$2" | sort -un)
		[[ -z $pids ]] && return 0
		# shellcheck disable=SC2086
		kill_all KILL $pids
		thaw "$2"
		sleep 0.1
	done
	pids=$(engine_pids "$1" "$2" | sort -un)
	[[ -z $pids ]] && return 0
	log "warning: processes of $1 survive SIGKILL: $pids"
	return 1
}

# port_holder PORT prints the pid of the process listening on 127.0.0.1:PORT.
port_holder() {
	local hex inode
	hex=$(printf '%04X' "$1")
	inode=$(awk -v p=":$hex" '$4 == "0A" && substr($2, length($2) - 4) == p { print $10; exit }' \
		/proc/net/tcp /proc/net/tcp6 2>/dev/null)
	[[ -n $inode ]] || return 0
	# find fails on processes that vanish while it looks: ignore its status.
	{ find /proc/[0-9]*/fd -lname "socket:\[$inode\]" 2>/dev/null || true; } | head -n1 | cut -d/ -f3
}

# arg_of PID FLAG prints the value of "--flag value" in the process's cmdline.
arg_of() {
	local -a args=()
	local i
	mapfile -d '' args 2>/dev/null <"/proc/$1/cmdline" || return 0
	for ((i = 0; i < ${#args[@]} - 1; i++)); do
		[[ ${args[i]} == "$2" ]] && echo "${args[i + 1]}" && return 0
	done
	return 0
}

# free_port NAME: make sure the engine's port is free, killing a leftover
# dockerd (ours, from this or another EVENTSD_ENGINES_DIR) that holds it.
free_port() {
	local port pid execroot cgparent
	port=$(port_of "$1")
	pid=$(port_holder "$port")
	[[ -n $pid ]] || return 0
	if [[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]] &&
		[[ $(cmdline "$pid") == *"-H tcp://127.0.0.1:$port"* ]]; then
		log "$1: killing leftover dockerd $pid on port $port"
		execroot=$(arg_of "$pid" --exec-root)
		cgparent=$(arg_of "$pid" --cgroup-parent)
		kill_all TERM "$pid"
		wait_gone 15 "$pid" || kill_all KILL "$pid"
		wait_gone 5 "$pid" || true
		kill_tree "$execroot" "$cgparent" || true
		return 0
	fi
	die "$1: port $port is held by pid $pid ($(cmdline "$pid" || echo '?'))"
}

healthy() {
	local d root
	d=$(dir_of "$1")
	root=$(timeout 5 "$(docker_bin)" -H "$(url_of "$1")" info --format '{{.DockerRootDir}}' 2>/dev/null) || return 1
	[[ $root == "$d/root" ]]
}

# launch NAME: start the engine's dockerd in the background (no waiting).
launch() {
	local name=$1 d port pid
	d=$(dir_of "$name")
	port=$(port_of "$name")
	if healthy "$name"; then
		log "$name: already running on port $port"
		return 0
	fi
	# A dockerd of ours that does not answer: kill it and its children.
	pid=$(dockerd_pids "$name")
	if [[ -n $pid ]]; then
		log "$name: killing unresponsive dockerd $pid"
		# shellcheck disable=SC2086
		kill_all KILL $pid
		# shellcheck disable=SC2086
		wait_gone 5 $pid || true
	fi
	kill_tree "$d/exec" "/eventsd-$name" || true
	free_port "$name"
	mkdir -p "$d/root" "$d/exec"
	echo "$port" >"$d/port"
	rm -f "$d/pid" "$d/exec/containerd/containerd.pid" "$d/docker.sock"
	# Own config file (ignore /etc/docker/daemon.json) and own key.json:
	# with the shared /etc/docker/key.json all engines would have one ID.
	printf '{"deprecated-key-path": "%s"}\n' "$d/key.json" >"$d/daemon.json"
	echo "=== $(date -u +%FT%TZ) engines.sh: starting $name" >>"$d/dockerd.log"
	# setsid + closed stdio: the engine outlives this script and holds none
	# of its descriptors (a pipe to `make test | tee` would never close, and
	# the lock on fd 9 would never be released).
	# Own UTS namespace so that each engine reports its own host name
	# (docker info .Name = eventsd-NAME), like engines on separate hosts.
	# shellcheck disable=SC2016
	setsid unshare --uts sh -c 'hostname "$0" && exec "$@"' "eventsd-$name" dockerd \
		--iptables=false --ip6tables=false --bridge=none \
		--storage-driver=vfs \
		--data-root "$d/root" --exec-root "$d/exec" \
		-H "unix://$d/docker.sock" -H "tcp://127.0.0.1:$port" \
		--pidfile "$d/pid" \
		--containerd-namespace "eventsd-$name" \
		--containerd-plugins-namespace "eventsd-${name}p" \
		--cgroup-parent "/eventsd-$name" \
		--config-file "$d/daemon.json" \
		</dev/null >>"$d/dockerd.log" 2>&1 9>&- &
	echo $! >"$d/launcher.pid"
	disown
}

# await NAME: wait until the engine answers, or fail with its log.
await() {
	local name=$1 d i lpid
	d=$(dir_of "$name")
	lpid=$(cat "$d/launcher.pid" 2>/dev/null || true)
	for ((i = 0; i < WAIT_SECS * 5; i++)); do
		healthy "$name" && return 0
		if [[ -n $lpid ]] && ! alive "$lpid" && [[ -z $(dockerd_pids "$name") ]]; then
			break
		fi
		sleep 0.2
	done
	log "$name: dockerd did not answer on $(url_of "$name"); last lines of $d/dockerd.log:"
	tail -n 40 "$d/dockerd.log" >&2 || true
	exit 1
}

build_image() {
	local name=$1 docker ctx
	docker=$(docker_bin)
	"$docker" -H "$(url_of "$name")" image inspect "$IMAGE" >/dev/null 2>&1 && return 0
	ctx=$BASE/image
	if [[ ! -s $ctx/busybox ]]; then
		mkdir -p "$ctx"
		cp /bin/busybox "$ctx/busybox"
		cat >"$ctx/Dockerfile" <<-'EOF'
			FROM scratch
			COPY busybox /bin/busybox
			RUN ["/bin/busybox", "--install", "-s", "/bin"]
		EOF
	fi
	DOCKER_BUILDKIT=0 "$docker" -H "$(url_of "$name")" build -q -t "$IMAGE" "$ctx" >/dev/null ||
		die "$name: building $IMAGE failed"
}

write_env() {
	local engines=$1
	cat >"$BASE/env.tmp" <<-EOF
		EVENTSD_TEST_ENGINES=$engines
		EVENTSD_TEST_IMAGE=$IMAGE
		EVENTSD_TEST_ENGINECTL=$SCRIPT
		EVENTSD_TEST_DOCKER=$(docker_bin)
		EVENTSD_ENGINES_DIR=$BASE
	EOF
	mv "$BASE/env.tmp" "$BASE/env"
}

lock() {
	mkdir -p "$BASE"
	exec 9>"$BASE/.lock"
	flock 9
}

# ---------------------------------------------------------------- commands

cmd_up() {
	local n=${1:-2} i name names=() engines=""
	if [[ $n =~ ^[a-z]$ ]]; then
		# Explicit names (up z): a demo engine that cannot collide with the
		# test engines a, b, ... (ports, cgroups and namespaces follow the name).
		for name in "$@"; do valid_name "$name"; names+=("$name"); done
	elif ! [[ $n =~ ^[0-9]+$ ]] || ((n < 1 || n > 26)); then
		die "up: N must be 1..26, or engine names"
	else
		for ((i = 0; i < n; i++)); do names+=("${LETTERS:i:1}"); done
	fi
	cmd_deps
	lock
	for name in "${names[@]}"; do launch "$name"; done
	for name in "${names[@]}"; do await "$name"; done
	for name in "${names[@]}"; do
		build_image "$name"
		engines+=${engines:+,}$name=$(url_of "$name")
	done
	write_env "$engines"
	log "up: ${names[*]} ready; env in $BASE/env"
}

cmd_start() {
	valid_name "$1"
	lock
	launch "$1"
	await "$1"
	log "$1: running on $(url_of "$1")"
}

cmd_kill() {
	local name=$1 d pids
	valid_name "$name"
	lock
	d=$(dir_of "$name")
	# Power loss: everything dies at once, nothing is cleaned up. The kill
	# comes first, then the thaw: a paused container's processes wake up
	# only to die.
	pids="$(dockerd_pids "$name") $(engine_pids "$d/exec" "/eventsd-$name")"
	# shellcheck disable=SC2086
	kill_all KILL $pids
	thaw "/eventsd-$name"
	kill_tree "$d/exec" "/eventsd-$name" || die "$name: processes survive SIGKILL"
	pids=$(dockerd_pids "$name")
	# shellcheck disable=SC2086
	wait_gone 5 $pids || die "$name: dockerd survives SIGKILL"
	log "$name: killed"
}

# stop_engine NAME SECS: SIGTERM, wait SECS, then SIGKILL.
stop_engine() {
	local name=$1 secs=$2 pids
	pids=$(dockerd_pids "$name")
	[[ -n $pids ]] || return 0
	# shellcheck disable=SC2086
	kill_all TERM $pids
	# shellcheck disable=SC2086
	kill_all CONT $pids # a stopped (SIGSTOP) dockerd handles nothing
	# shellcheck disable=SC2086
	if ! wait_gone "$secs" $pids; then
		log "$name: dockerd still running after ${secs}s, sending SIGKILL"
		# shellcheck disable=SC2086
		kill_all KILL $pids
		# shellcheck disable=SC2086
		wait_gone 5 $pids || true
	fi
}

cmd_stop() {
	valid_name "$1"
	lock
	stop_engine "$1" 30
	log "$1: stopped"
}

# unmount_under DIR: unmount everything mounted at or below DIR, deepest first.
unmount_under() {
	local m
	[[ $1 == "$BASE" || $1 == "$BASE"/?* ]] || die "unmount_under: $1 is not under $BASE"
	while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: cannot unmount $m"
	done < <(awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r)
}

# remove_cgroups CGPARENT: remove the engine's (empty) cgroup directories.
remove_cgroups() {
	local m
	[[ $1 =~ ^/eventsd-[a-z]$ ]] || return 0
	while read -r _ m _; do
		[[ -d $m$1 ]] || continue
		find "$m$1" -depth -type d -exec rmdir {} + 2>/dev/null || true
	done < <(awk '$3 == "cgroup" || $3 == "cgroup2"' /proc/self/mounts)
}

# teardown NAME: remove the engine's containers, stop it, kill what is left
# of it, unmount and remove its directory.
teardown() {
	local name=$1 d docker ids
	d=$(dir_of "$name")
	docker=$(docker_bin 2>/dev/null || echo docker)
	if [[ -n $(dockerd_pids "$name") ]]; then
		ids=$(timeout 5 "$docker" -H "unix://$d/docker.sock" ps -aq 2>/dev/null || true)
		if [[ -n $ids ]]; then
			# shellcheck disable=SC2086
			timeout 30 "$docker" -H "unix://$d/docker.sock" rm -f $ids >/dev/null 2>&1 || true
		fi
		stop_engine "$name" 15
	fi
	kill_tree "$d/exec" "/eventsd-$name" || true
	unmount_under "$d"
	remove_cgroups "/eventsd-$name"
	rm -rf "$d"
	log "$name: removed"
}

cmd_down() {
	local name d pid names
	check_base
	[[ -d $BASE ]] && lock
	names=$(known_engines)
	# dockerds whose data-root is under BASE but whose dir went missing.
	for pid in $(pids_with "--data-root $BASE/"); do
		[[ $(cat "/proc/$pid/comm" 2>/dev/null) == dockerd ]] || continue
		d=$(arg_of "$pid" --data-root)
		d=${d%/root}
		names+=$'\n'${d##*/}
	done
	# All engines at once: a graceful dockerd shutdown takes seconds.
	# shellcheck disable=SC2013 # names are single letters
	for name in $(sort -u <<<"$names"); do
		[[ $name =~ ^[a-z]$ ]] || continue
		teardown "$name" &
	done
	wait
	if [[ -d $BASE ]]; then
		unmount_under "$BASE"
		rm -rf "$BASE/image" "$BASE/env" "$BASE/env.tmp" "$BASE/.lock"
		rmdir "$BASE" 2>/dev/null || log "warning: $BASE not empty, left in place"
	fi
}

cmd_status() {
	local name pid
	for name in $(known_engines); do
		pid=$(dockerd_pids "$name")
		if healthy "$name"; then
			echo "$name $(url_of "$name") running pid=$pid"
		elif [[ -n $pid ]]; then
			echo "$name $(url_of "$name") unresponsive pid=$pid"
		else
			echo "$name $(url_of "$name") stopped"
		fi
	done
}

cmd_env() {
	[[ -f $BASE/env ]] || die "no $BASE/env: run hack/engines.sh up"
	cat "$BASE/env"
}

usage() {
	sed -n '2,/^set -/{/^#/s/^# \{0,1\}//p}' "$SCRIPT" >&2
	exit 2
}

main() {
	check_base
	local cmd=${1:-}
	(($#)) && shift
	case $cmd in
	up) cmd_up "$@" ;;
	down) cmd_down ;;
	kill | start | stop)
		(($# == 1)) || die "usage: $0 $cmd NAME"
		"cmd_$cmd" "$1"
		;;
	status) cmd_status ;;
	env) cmd_env ;;
	deps) cmd_deps ;;
	*) usage ;;
	esac
}

main "$@"
