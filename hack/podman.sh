#!/usr/bin/env bash
# hack/podman.sh: a throwaway Podman engine for docker-eventsd's tests.
#
# The engine is Debian's podman (4.3) serving the Docker-compatible API:
# `podman system service --time=0 unix://$EVENTSD_PODMAN_DIR/podman.sock`,
# as root, with its own storage (root, runroot, tmpdir), its own containers.conf
# and storage.conf, its own events file and its own network config, all under
# $EVENTSD_PODMAN_DIR. Nothing outside that directory is used, except the
# containers' cgroups (/libpod_parent/libpod-ID, removed with the containers,
# and /libpod_parent once empty) and podman's blob-info cache in
# /var/lib/containers/cache.
#
#   hack/podman.sh up       start the service, build eventsd-busybox:latest on
#                           it, write $EVENTSD_PODMAN_DIR/env
#   hack/podman.sh down     remove every container, stop the service and every
#                           process of its containers, remove the directory
#   hack/podman.sh kill     SIGKILL the service (the API dies; containers keep
#                           running under their conmon, as they do with podman)
#   hack/podman.sh start    start the service again, wait until it answers
#   hack/podman.sh status   one line: running, unresponsive or stopped
#   hack/podman.sh cli ARGS the podman CLI on this engine (works while the
#                           service is down: podman needs no daemon)
#   hack/podman.sh env      print the env file
#
# The settings that run containers on these machines (see docs/CONFIG.md,
# "Podman"): runtime runc (crun is not installed), cgroup manager cgroupfs (no
# systemd), events backend file (no journald), storage driver vfs, ulimits
# within this process's hard limits (podman's default nofile of 1048576 fails
# with "error setting rlimits"). Networks: the CNI backend pointed at an empty
# plugin directory, so that a container asking for a network fails instead of
# making a bridge and iptables rules on the host; run containers with
# --network none.
#
# Environment: EVENTSD_PODMAN_DIR (default /tmp/eventsd-podman).
set -Eeuo pipefail
trap 'echo "podman: error: \"$BASH_COMMAND\" failed (line $LINENO)" >&2' ERR

SCRIPT=$(readlink -f "${BASH_SOURCE[0]}")
BASE=${EVENTSD_PODMAN_DIR:-/tmp/eventsd-podman}
IMAGE=eventsd-busybox:latest
WAIT_SECS=60

log() { printf 'podman: %s\n' "$*" >&2; }
die() {
	log "error: $*"
	exit 1
}

check_base() {
	case $BASE in
	/*) ;;
	*) die "EVENTSD_PODMAN_DIR must be an absolute path (got '$BASE')" ;;
	esac
	BASE=${BASE%/}
	case $BASE in
	'' | / | /tmp | /var | /home | /root | /usr | /etc | /run) die "refusing EVENTSD_PODMAN_DIR=$BASE" ;;
	esac
	SOCK=$BASE/podman.sock
	URL=unix://$SOCK
}

# podman_cli runs the podman CLI on this engine's storage and config.
podman_cli() {
	CONTAINERS_CONF=$BASE/containers.conf CONTAINERS_STORAGE_CONF=$BASE/storage.conf \
		podman --root "$BASE/root" --runroot "$BASE/run" --tmpdir "$BASE/tmp" "$@"
}

write_config() {
	local nofile
	nofile=$(ulimit -Hn)
	[[ $nofile == unlimited ]] && nofile=1048576
	mkdir -p "$BASE/root" "$BASE/run" "$BASE/tmp" "$BASE/net" "$BASE/no-cni"
	cat >"$BASE/containers.conf" <<-EOF
		[containers]
		default_ulimits = ["nofile=$nofile:$nofile", "nproc=4096:4096"]
		netns = "none"
		cgroupns = "host"
		[engine]
		cgroup_manager = "cgroupfs"
		events_logger = "file"
		events_logfile_path = "$BASE/events.log"
		runtime = "runc"
		tmp_dir = "$BASE/tmp"
		static_dir = "$BASE/root/libpod"
		volume_path = "$BASE/root/volumes"
		[network]
		network_backend = "cni"
		cni_plugin_dirs = ["$BASE/no-cni"]
		network_config_dir = "$BASE/net"
	EOF
	cat >"$BASE/storage.conf" <<-EOF
		[storage]
		driver = "vfs"
		runroot = "$BASE/run"
		graphroot = "$BASE/root"
	EOF
}

alive() { [[ -n $1 && -d /proc/$1 ]]; }

# cmdline PID prints the process's command line, arguments joined by spaces.
cmdline() {
	local -a args=()
	mapfile -d '' args 2>/dev/null <"/proc/$1/cmdline" || return 1
	((${#args[@]})) || return 1
	echo "${args[*]}"
}

# pids_with SUBSTRING: processes whose command line holds SUBSTRING.
pids_with() {
	local p c
	for p in /proc/[0-9]*; do
		p=${p#/proc/}
		[[ $p == "$$" || $p == "$BASHPID" ]] && continue
		c=$(cmdline "$p") || continue
		[[ $c == *"$1"* ]] && echo "$p"
	done
	return 0
}

# service_pids: the engine's `podman system service` processes.
service_pids() {
	local p
	for p in $(pids_with "system service --time=0 $URL"); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == podman ]] && echo "$p"
	done
	return 0
}

# conmon_pids: the conmon processes of this engine's containers and execs.
conmon_pids() {
	local p
	for p in $(pids_with "-b $BASE/root/"); do
		[[ $(cat "/proc/$p/comm" 2>/dev/null) == conmon ]] && echo "$p"
	done
	return 0
}

# container_ids: the IDs of the containers in this engine's storage.
container_ids() {
	local d
	for d in "$BASE"/root/vfs-containers/*/; do
		[[ -d $d ]] || continue
		d=${d%/}
		d=${d##*/}
		[[ $d =~ ^[0-9a-f]{64}$ ]] && echo "$d"
	done
	return 0
}

# container_cgroups ID: the container's cgroup directories, in each hierarchy.
container_cgroups() {
	local m
	[[ $1 =~ ^[0-9a-f]{64}$ ]] || return 0
	while read -r _ m _; do
		[[ -d $m/libpod_parent/libpod-$1 ]] && echo "$m/libpod_parent/libpod-$1"
	done < <(awk '$3 == "cgroup" || $3 == "cgroup2"' /proc/self/mounts)
	return 0
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

# docker_bin prints the docker CLI that asks the service (as the tests do).
docker_bin() {
	if [[ -x /usr/bin/docker ]]; then
		echo /usr/bin/docker
	else
		command -v docker || die "no docker CLI found"
	fi
}

healthy() {
	local root
	root=$(timeout 5 "$(docker_bin)" -H "$URL" info --format '{{.DockerRootDir}}' 2>/dev/null) || return 1
	[[ $root == "$BASE/root" ]]
}

launch() {
	if healthy; then
		log "already running on $URL"
		return 0
	fi
	local pids
	pids=$(service_pids)
	if [[ -n $pids ]]; then
		log "killing unresponsive service $pids"
		# shellcheck disable=SC2086
		kill_all KILL $pids
		# shellcheck disable=SC2086
		wait_gone 5 $pids || true
	fi
	write_config
	rm -f "$SOCK"
	echo "=== $(date -u +%FT%TZ) podman.sh: starting" >>"$BASE/service.log"
	# setsid + closed stdio: the service outlives this script and holds none
	# of its descriptors.
	CONTAINERS_CONF=$BASE/containers.conf CONTAINERS_STORAGE_CONF=$BASE/storage.conf \
		setsid podman --root "$BASE/root" --runroot "$BASE/run" --tmpdir "$BASE/tmp" \
		system service --time=0 "$URL" </dev/null >>"$BASE/service.log" 2>&1 9>&- &
	echo $! >"$BASE/launcher.pid"
	disown
}

await() {
	local i lpid
	lpid=$(cat "$BASE/launcher.pid" 2>/dev/null || true)
	for ((i = 0; i < WAIT_SECS * 5; i++)); do
		healthy && return 0
		if [[ -n $lpid ]] && ! alive "$lpid" && [[ -z $(service_pids) ]]; then
			break
		fi
		sleep 0.2
	done
	log "the service did not answer on $URL; last lines of $BASE/service.log:"
	tail -n 40 "$BASE/service.log" >&2 || true
	exit 1
}

build_image() {
	local ctx=$BASE/image
	podman_cli image exists "$IMAGE" && return 0
	mkdir -p "$ctx"
	cp /bin/busybox "$ctx/busybox"
	cat >"$ctx/Containerfile" <<-'EOF'
		FROM scratch
		COPY busybox /bin/busybox
		RUN ["/bin/busybox", "--install", "-s", "/bin"]
	EOF
	podman_cli build -q --network none -t "$IMAGE" -f "$ctx/Containerfile" "$ctx" >/dev/null ||
		die "building $IMAGE failed"
}

write_env() {
	cat >"$BASE/env.tmp" <<-EOF
		EVENTSD_TEST_PODMAN=$URL
		EVENTSD_TEST_PODMAN_IMAGE=$IMAGE
		EVENTSD_TEST_PODMANCTL=$SCRIPT
		EVENTSD_PODMAN_DIR=$BASE
	EOF
	mv "$BASE/env.tmp" "$BASE/env"
}

lock() {
	mkdir -p "$BASE"
	exec 9>"$BASE/.lock"
	flock 9
}

cmd_deps() {
	[[ $(id -u) == 0 ]] || die "the test engine runs podman as root"
	command -v podman >/dev/null 2>&1 || die "podman missing: apt-get install podman"
	command -v runc >/dev/null 2>&1 || die "runc missing: apt-get install runc"
	[[ -x /bin/busybox ]] || die "/bin/busybox missing: apt-get install busybox-static"
	docker_bin >/dev/null
}

cmd_up() {
	cmd_deps
	lock
	launch
	await
	build_image
	write_env
	log "up: $URL ready; env in $BASE/env"
}

cmd_start() {
	lock
	launch
	await
	log "running on $URL"
}

cmd_kill() {
	local pids
	lock
	pids=$(service_pids)
	# shellcheck disable=SC2086
	kill_all KILL $pids
	# shellcheck disable=SC2086
	wait_gone 5 $pids || die "the service survives SIGKILL"
	log "killed"
}

# stop_service SECS: SIGTERM, wait SECS, then SIGKILL.
stop_service() {
	local pids
	pids=$(service_pids)
	[[ -n $pids ]] || return 0
	# shellcheck disable=SC2086
	kill_all TERM $pids
	# shellcheck disable=SC2086
	if ! wait_gone "$1" $pids; then
		# shellcheck disable=SC2086
		kill_all KILL $pids
		# shellcheck disable=SC2086
		wait_gone 5 $pids || true
	fi
}

# kill_containers: SIGKILL what is left of the containers (conmon, their
# processes, from their cgroups), and remove their cgroups.
kill_containers() {
	local i id cg pids m
	for ((i = 0; i < 20; i++)); do
		pids=$(conmon_pids)
		for id in $(container_ids); do
			for cg in $(container_cgroups "$id"); do
				pids+=" $(find "$cg" -name cgroup.procs -exec cat {} + 2>/dev/null || true)"
			done
		done
		[[ -z ${pids// /} ]] && break
		# shellcheck disable=SC2086
		kill_all KILL $pids
		sleep 0.1
	done
	for id in $(container_ids); do
		for cg in $(container_cgroups "$id"); do
			find "$cg" -depth -type d -exec rmdir {} + 2>/dev/null || log "warning: cannot remove $cg"
		done
	done
	# Podman's parent cgroups, once empty (another engine may still use them).
	while read -r _ m _; do
		rmdir "$m/libpod_parent/conmon" "$m/libpod_parent" 2>/dev/null || true
	done < <(awk '$3 == "cgroup" || $3 == "cgroup2"' /proc/self/mounts)
}

# unmount_under DIR: unmount everything mounted at or below DIR, deepest first.
unmount_under() {
	local m
	while read -r m; do
		umount "$m" 2>/dev/null || umount -l "$m" 2>/dev/null || log "warning: cannot unmount $m"
	done < <(awk -v d="$1" '$2 == d || index($2, d "/") == 1 { print $2 }' /proc/self/mounts | sort -r)
}

cmd_down() {
	[[ -d $BASE ]] || return 0
	lock
	if [[ -s $BASE/containers.conf ]]; then
		timeout 60 podman_cli rm -fa -t 0 >/dev/null 2>&1 || true
	fi
	stop_service 15
	kill_containers
	unmount_under "$BASE"
	rm -rf "$BASE"
	log "removed"
}

cmd_status() {
	local pids
	pids=$(service_pids | tr '\n' ' ')
	if healthy; then
		echo "podman $URL running pid=${pids% }"
	elif [[ -n $pids ]]; then
		echo "podman $URL unresponsive pid=${pids% }"
	else
		echo "podman $URL stopped"
	fi
}

cmd_env() {
	[[ -f $BASE/env ]] || die "no $BASE/env: run hack/podman.sh up"
	cat "$BASE/env"
}

usage() {
	sed -n '2,/^set -/{/^#/s/^# \{0,1\}//p}' "$SCRIPT" >&2
	exit 2
}

main() {
	check_base
	local cmd=${1:-}
	case $cmd in
	up | down | kill | start | status | env | deps) "cmd_$cmd" ;;
	cli)
		shift
		[[ -s $BASE/containers.conf ]] || die "no engine in $BASE: run hack/podman.sh up"
		exec 9>&-
		podman_cli "$@"
		;;
	*) usage ;;
	esac
}

main "$@"
