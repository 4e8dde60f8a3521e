#!/usr/bin/env bash
# hack/image.sh: build the docker-eventsd container image, offline.
#
#   hack/image.sh [TAG]        default TAG docker-eventsd:latest
#
# The image is FROM scratch (hack/image/Dockerfile): the daemon built static from
# this tree, Debian's busybox-static for /bin/sh, and the docker CLI found on this
# machine with the libraries it links (ldd), so handlers can run `docker -H ...`.
# It runs as the user eventsd (uid 65532, hack/image/passwd), who reaches the
# engine socket through its group: docker run --group-add GID.
# It builds on the engine of DOCKER_HOST (default: the local socket), with
# DOCKER_BUILDKIT=0 and no registry. EVENTSD_IMAGE_NO_CLI=1 leaves the CLI out.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$PWD
if ! command -v go >/dev/null 2>&1 && [[ -x /usr/local/go/bin/go ]]; then
	export PATH=/usr/local/go/bin:$PATH
fi
TAG=${1:-docker-eventsd:latest}
die() { echo "image.sh: $*" >&2; exit 1; }

docker=${EVENTSD_TEST_DOCKER:-}
if [[ -z $docker ]]; then
	if [[ -x /usr/bin/docker ]]; then docker=/usr/bin/docker; else docker=$(command -v docker) || die "no docker CLI"; fi
fi
[[ -x /bin/busybox ]] || die "/bin/busybox missing: apt-get install busybox-static"
file_static() { ! ldd "$1" >/dev/null 2>&1; }
file_static /bin/busybox || die "/bin/busybox is not static: apt-get install busybox-static"

ctx=$(mktemp -d /tmp/eventsd-image.XXXXXX)
trap 'rm -rf "$ctx"' EXIT
rootfs=$ctx/rootfs
mkdir -p "$rootfs/usr/local/bin" "$rootfs/bin" "$rootfs/usr/bin"

version=$(git -C "$ROOT" describe --always --dirty 2>/dev/null || echo dev)
CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=$version" \
	-o "$rootfs/usr/local/bin/docker-eventsd" ./cmd/docker-eventsd
cp /bin/busybox "$rootfs/bin/busybox"
# The users: root, and eventsd (65532), whom the image runs as.
mkdir -p "$rootfs/etc"
cp "$ROOT/hack/image/passwd" "$ROOT/hack/image/group" "$rootfs/etc/"

if [[ ${EVENTSD_IMAGE_NO_CLI:-} != 1 ]]; then
	cli=$(readlink -f "$docker")
	cp "$cli" "$rootfs/usr/bin/docker"
	# The CLI's shared libraries, at the paths its loader looks for them.
	if ! file_static "$cli"; then
		while read -r lib; do
			cp -L --parents "$lib" "$rootfs"
		done < <(ldd "$cli" | grep -o '/[^ ]*' | sort -u)
	fi
fi
cp "$ROOT/hack/image/Dockerfile" "$ctx/Dockerfile"

DOCKER_BUILDKIT=0 "$docker" build -q -t "$TAG" "$ctx" >/dev/null || die "docker build failed"
echo "$TAG"
