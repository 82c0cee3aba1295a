#!/usr/bin/env bash
# Builds the operator image from the repository's Dockerfile, with `docker build` where
# a Docker engine answers and with buildah (no daemon) otherwise, checks that it runs,
# and writes it as an archive that `ctr -n k8s.io images import` and `docker load` load
# under its full name.
#
# With buildah, the image goes to buildah's usual storage (as root
# /var/lib/containers/storage, else ~/.local/share/containers/storage; where overlay
# does not work, CONTAINERS_STORAGE_CONF names a storage.conf with driver = "vfs" and
# a graphroot of its own) and its layers are cached there: an unchanged tree builds
# again in seconds. When the Dockerfile's base cannot be pulled, a Python base is made
# once from Debian packages (tools/image/debian-base.sh).
#
# Environment (the Makefile passes its variables of the same names):
#   IMAGE, IMAGE_TAG   the image's name (default ghcr.io/souverain/souverain and the
#                      version in pyproject.toml)
#   IMAGE_ARCHIVE      the archive (default build/images/souverain.tar)
#   PYTHON_IMAGE       the base image; default the Dockerfile's, or with buildah the
#                      Debian one when that cannot be pulled
#   IMAGE_BASE=debian  take the Debian base without trying the registry (buildah only)
#   PIP_INDEX_URL      the index pip uses in the build
#   PIP_CERT, SSL_CERT_FILE, REQUESTS_CA_BUNDLE
#                      the first that names a file is pip's CA bundle in the build (the
#                      `pip-ca` secret: read by the build stage, stored in no layer)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
fail() { echo "souverain: $*" >&2; exit 1; }

image=${IMAGE:-ghcr.io/souverain/souverain}
tag=${IMAGE_TAG:-$(sed -n 's/^version = "\(.*\)"/\1/p' "$repo/pyproject.toml")}
[ -n "$tag" ] || fail "cannot read the version from $repo/pyproject.toml; set IMAGE_TAG"
name=$image:$tag
archive=${IMAGE_ARCHIVE:-$repo/build/images/souverain.tar}
case "$archive" in /*) ;; *) archive=$PWD/$archive ;; esac

build_args=()
if [ -n "${PIP_INDEX_URL:-}" ]; then
  build_args+=(--build-arg "PIP_INDEX_URL=$PIP_INDEX_URL")
fi
for ca in "${PIP_CERT:-}" "${SSL_CERT_FILE:-}" "${REQUESTS_CA_BUNDLE:-}"; do
  if [ -n "$ca" ] && [ -f "$ca" ]; then
    build_args+=(--secret "id=pip-ca,src=$ca")
    break
  fi
done

mkdir -p "$(dirname "$archive")"
partial=$archive.partial
container=
# shellcheck disable=SC2317  # run by the trap
cleanup() {
  if [ -n "$container" ]; then buildah rm "$container" >/dev/null 2>&1 || true; fi
  rm -f "$partial"
}
trap cleanup EXIT

if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then
  if [ -n "${PYTHON_IMAGE:-}" ]; then
    build_args+=(--build-arg "PYTHON_IMAGE=$PYTHON_IMAGE")
  fi
  echo "souverain: building $name with docker" >&2
  DOCKER_BUILDKIT=1 docker build "${build_args[@]}" --tag "$name" "$repo"
  docker run --rm --read-only --user 10001:10001 "$name" --help >/dev/null \
    || fail "the image $name was built but 'souverain --help' fails in it"
  docker save --output "$partial" "$name"
  mv "$partial" "$archive"
  echo "souverain: $name written to $archive" >&2
  exit 0
fi

"$here/../ensure-command.sh" buildah buildah "the operator image"
base=${PYTHON_IMAGE:-}
if [ -z "$base" ] && [ "${IMAGE_BASE:-}" != debian ]; then
  default_base=$(sed -n 's/^ARG PYTHON_IMAGE=//p' "$repo/Dockerfile")
  [ -n "$default_base" ] || fail "cannot read the default PYTHON_IMAGE from $repo/Dockerfile"
  # Short names are Docker Hub's, as for `docker build`.
  if [[ $default_base != */* ]]; then
    qualified=docker.io/library/$default_base
  elif [[ ${default_base%%/*} == *[.:]* || ${default_base%%/*} == localhost ]]; then
    qualified=$default_base
  else
    qualified=docker.io/$default_base
  fi
  if buildah inspect --type image "$qualified" >/dev/null 2>&1 \
    || timeout 30 buildah pull --quiet "$qualified" >/dev/null 2>&1; then
    base=$qualified
  else
    echo "souverain: $qualified cannot be pulled; building on a Python base from Debian packages" >&2
  fi
fi
if [ -z "$base" ]; then
  base=$("$here/debian-base.sh")
fi

echo "souverain: building $name on $base with buildah" >&2
buildah bud --isolation chroot --layers \
  --build-arg "PYTHON_IMAGE=$base" "${build_args[@]}" \
  --tag "$name" "$repo" \
  || fail "buildah could not build $name (see above)"

container=$(buildah from --quiet --pull=never "$name")
buildah run --isolation chroot "$container" -- souverain --help >/dev/null \
  || fail "the image $name was built but 'souverain --help' fails in it"
buildah rm "$container" >/dev/null
container=

# The archive is written again only when the image changed.
id=$(buildah inspect --type image --format '{{.FromImageID}}' "$name")
if [ -f "$archive" ] && [ "$(cat "$archive.id" 2>/dev/null)" = "$id" ]; then
  echo "souverain: $name unchanged; $archive is up to date" >&2
  exit 0
fi
rm -f "$partial" "$archive.id"
buildah push --quiet "$name" "docker-archive:$partial:$name"
mv "$partial" "$archive"
echo "$id" >"$archive.id"
echo "souverain: $name written to $archive" >&2
