#!/usr/bin/env bash
# hack/mariadb-image.sh: build the MariaDB image of examples/mysql-failover,
# offline, from this machine's MariaDB (Debian's mariadb-server).
#
#   hack/mariadb-image.sh [TAG]        default TAG eventsd-mariadb:latest
#
# The image is FROM scratch: /usr/sbin/mariadbd with the shared libraries it
# links (ldd), its messages, charsets and bootstrap SQL (/usr/share/mysql),
# Debian's busybox-static for /bin/sh, and the entrypoint
# examples/mysql-failover/image/init.sh. It builds on the engine of
# DOCKER_HOST (default: the local socket), with DOCKER_BUILDKIT=0 and no
# registry.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
TAG=${1:-eventsd-mariadb:latest}
die() { echo "mariadb-image.sh: $*" >&2; exit 1; }

docker=${EVENTSD_TEST_DOCKER:-}
if [[ -z $docker ]]; then
	if [[ -x /usr/bin/docker ]]; then docker=/usr/bin/docker; else docker=$(command -v docker) || die "no docker CLI"; fi
fi
mariadbd=/usr/sbin/mariadbd
[[ -x $mariadbd ]] || die "$mariadbd missing: apt-get install mariadb-server"
[[ -d /usr/share/mysql/english ]] || die "/usr/share/mysql missing: apt-get install mariadb-server"
[[ -x /bin/busybox ]] || die "/bin/busybox missing: apt-get install busybox-static"
! ldd /bin/busybox >/dev/null 2>&1 || die "/bin/busybox is not static: apt-get install busybox-static"

ctx=$(mktemp -d /tmp/eventsd-mariadb-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
rootfs=$ctx/rootfs
mkdir -p "$rootfs/bin" "$rootfs/usr/sbin" "$rootfs/usr/share" "$rootfs/etc" "$rootfs/tmp" \
	"$rootfs/run/mysqld" "$rootfs/var/lib/mysql" "$rootfs/usr/lib/mysql/plugin"
cp "$mariadbd" "$rootfs/usr/sbin/mariadbd"
# The libraries, at the paths the loader looks for them.
while read -r lib; do
	cp -L --parents "$lib" "$rootfs"
done < <(ldd "$mariadbd" | grep -o '/[^ ]*' | sort -u)
cp -r /usr/share/mysql "$rootfs/usr/share/mysql"
cp /bin/busybox "$rootfs/bin/busybox"
for applet in sh cat mkdir rm echo; do
	ln -s busybox "$rootfs/bin/$applet"
done
# mariadbd --user=root looks root up.
echo 'root:x:0:0:root:/root:/bin/sh' > "$rootfs/etc/passwd"
echo 'root:x:0:' > "$rootfs/etc/group"
install -m 0755 "$ROOT/examples/mysql-failover/image/init.sh" "$rootfs/init.sh"
chmod 1777 "$rootfs/tmp"

cat > "$ctx/Dockerfile" <<'DOCKERFILE'
FROM scratch
COPY rootfs/ /
ENTRYPOINT ["/init.sh"]
DOCKERFILE

DOCKER_BUILDKIT=0 "$docker" build -q -t "$TAG" "$ctx" >/dev/null || die "docker build failed"
echo "$TAG"
