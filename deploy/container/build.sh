#!/bin/sh
# Build Utskick's container image with podman, as root, from Debian's packages and PyPI only:
# the base image is made with debootstrap and `podman import` (no container registry), then
# deploy/container/Containerfile installs Utskick from this checkout with the locked,
# hash-checked dependencies from PyPI.
#
#   deploy/container/build.sh [IMAGE]            default IMAGE: localhost/utskick:latest
#
# Environment (all optional):
#   UTSKICK_BASE_IMAGE    the base image; made with debootstrap when podman does not have it
#                         (default localhost/utskick-base:bookworm)
#   DEBIAN_MIRROR         default http://deb.debian.org/debian
#   PIP_CA_BUNDLE         a CA bundle pip must trust to reach PyPI, e.g. a TLS-inspecting
#                         proxy's (/etc/ssl/certs/ca-certificates.crt); mounted for the build only
#   PODMAN_OPTIONS        options for every podman command, e.g. "--runtime runc"
#   PODMAN_BUILD_OPTIONS  options for podman build, e.g. "--ulimit nofile=20000:20000"
#
# Needs: podman, debootstrap (Debian packages), root.
set -eu

IMAGE=${1:-localhost/utskick:latest}
BASE=${UTSKICK_BASE_IMAGE:-localhost/utskick-base:bookworm}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
PODMAN_OPTIONS=${PODMAN_OPTIONS:-}
PODMAN_BUILD_OPTIONS=${PODMAN_BUILD_OPTIONS:-}
HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)

if [ "$(id -u)" != 0 ]; then
  echo "build.sh: run as root (debootstrap and rootful podman)" >&2
  exit 2
fi
for tool in podman debootstrap; do
  command -v "$tool" >/dev/null || { echo "build.sh: $tool is missing: apt-get install $tool" >&2; exit 2; }
done

WORK=$(mktemp -d /var/tmp/utskick-image.XXXXXX)
trap 'rm -rf "$WORK"' EXIT INT TERM

# shellcheck disable=SC2086 # the option strings are split on purpose
if ! podman $PODMAN_OPTIONS image exists "$BASE"; then
  echo "== base image $BASE: debootstrap bookworm (minbase, Python 3.11) from $MIRROR"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$WORK/rootfs" "$MIRROR" >"$WORK/debootstrap.log" 2>&1 \
    || { tail -20 "$WORK/debootstrap.log" >&2; exit 1; }
  rm -rf "$WORK/rootfs/var/cache/apt/archives/"*.deb "$WORK/rootfs/var/lib/apt/lists/"*
  tar -C "$WORK/rootfs" -c . | podman $PODMAN_OPTIONS import \
    --change 'CMD ["/bin/bash"]' - "$BASE"
  rm -rf "$WORK/rootfs"
fi

echo "== image $IMAGE from $REPO"
mkdir "$WORK/context"
cp "$REPO/pyproject.toml" "$REPO/README.md" "$REPO/LICENSE" "$REPO/requirements.lock" \
  "$WORK/context/"
cp -r "$REPO/src" "$WORK/context/src"
find "$WORK/context/src" -name __pycache__ -prune -exec rm -rf {} +

set -- --build-arg "BASE=$BASE"
if [ -n "${PIP_CA_BUNDLE:-}" ]; then
  set -- "$@" --volume "$PIP_CA_BUNDLE:/run/pip-ca.crt:ro" --build-arg PIP_CERT=/run/pip-ca.crt
fi
podman $PODMAN_OPTIONS build $PODMAN_BUILD_OPTIONS "$@" \
  -f "$HERE/Containerfile" -t "$IMAGE" "$WORK/context"
echo "== built $IMAGE"
