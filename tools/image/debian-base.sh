#!/usr/bin/env bash
# A Python base image made from Debian packages with mmdebstrap, for building the
# operator image where the Dockerfile's python:*-slim base cannot be pulled. It holds
# what the Dockerfile uses: python3 (3.11 on bookworm, the project's floor) with venv
# and ensurepip, a `python` command, groupadd/useradd and the CA certificates; no apt.
#
# It is built once into buildah's local storage and built again only when the recipe
# below changes (the image carries the recipe's hash as a label). Prints the image's
# name on stdout.
#
#   DEBIAN_MIRROR, DEBIAN_SECURITY_MIRROR   where the packages come from
#                                           (default deb.debian.org)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "souverain: $*" >&2; exit 1; }

SUITE=bookworm
NAME=localhost/souverain-python:3.11-$SUITE
mirror=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
security_mirror=${DEBIAN_SECURITY_MIRROR:-http://deb.debian.org/debian-security}

# The recipe. The hash covers everything here but the mirrors; bump RECIPE when the
# steps after mmdebstrap change.
RECIPE=1
# shellcheck disable=SC2016  # $1 is the chroot, for mmdebstrap to expand
tidy_hook='rm -f "$1/etc/resolv.conf" "$1/etc/hostname" "$1"/var/cache/debconf/*-old "$1"/var/lib/dpkg/*-old'
packages=(python3 python3-venv python-is-python3 passwd ca-certificates)
mmdebstrap_args=(
  --variant=essential
  # merged /usr the way debootstrap does it, without the usrmerge package and its perl
  --hook-dir=/usr/share/mmdebstrap/hooks/merged-usr
  "--include=$(IFS=,; echo "${packages[*]}")"
  # no documentation but the copyright files, no manual pages, no translations
  --dpkgopt='path-exclude=/usr/share/doc/*'
  --dpkgopt='path-include=/usr/share/doc/*/copyright'
  --dpkgopt='path-exclude=/usr/share/man/*'
  --dpkgopt='path-exclude=/usr/share/info/*'
  --dpkgopt='path-exclude=/usr/share/locale/*'
  # the container runtime provides /dev, /etc/resolv.conf and /etc/hostname
  --skip=output/dev
  "--customize-hook=$tidy_hook"
)
recipe=$(printf '%s\n' "$RECIPE" "$SUITE" "${mmdebstrap_args[@]}" | sha256sum | cut -c1-16)
LABEL=io.souverain.base-recipe

"$here/../ensure-command.sh" buildah buildah "the operator image"
built=$(buildah inspect --type image --format "{{index .OCIv1.Config.Labels \"$LABEL\"}}" "$NAME" 2>/dev/null || true)
if [ "$built" = "$recipe" ]; then
  echo "$NAME"
  exit 0
fi
"$here/../ensure-command.sh" mmdebstrap mmdebstrap "the Debian base of the operator image"

echo "souverain: building $NAME from Debian $SUITE packages (once; recipe $recipe)" >&2
work=$(mktemp -d)
container=
cleanup() {
  if [ -n "$container" ]; then buildah rm "$container" >/dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
mmdebstrap --quiet "${mmdebstrap_args[@]}" "$SUITE" "$work/rootfs.tar" \
  "deb $mirror $SUITE main" \
  "deb $mirror $SUITE-updates main" \
  "deb $security_mirror $SUITE-security main" </dev/null >"$work/mmdebstrap.log" 2>&1 \
  || { tail -n 40 "$work/mmdebstrap.log" >&2; fail "mmdebstrap could not make the Debian base (its last lines are above)"; }

container=$(buildah from scratch)
buildah add --quiet "$container" "$work/rootfs.tar" / >/dev/null
buildah config \
  --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
  --env LANG=C.UTF-8 \
  --cmd python3 \
  --label "$LABEL=$recipe" \
  --label "org.opencontainers.image.description=Python from Debian $SUITE packages, the base of the souverain image where python:*-slim cannot be pulled" \
  "$container"
# The image of an older recipe goes: its name moves to the new one.
if [ -n "$built" ]; then buildah rmi "$NAME" >/dev/null 2>&1 || true; fi
buildah commit --quiet --rm "$container" "$NAME" >/dev/null
container=
echo "$NAME"
