#!/usr/bin/env bash
# Two small images for real kubelets, which cannot pull from a registry here, made with
# buildah from Debian's static busybox:
#   localhost/souverain/pause:N    containerd's sandbox image (sandbox_image in its CRI
#                                  config): sleeps, and exits 0 at once on SIGTERM or
#                                  SIGINT; runs as 65535:65535
#   localhost/souverain/busybox:N  for test pods: busybox with its applets in /bin (sh,
#                                  wget, nc, sleep, httpd, ...), /tmp, root and nobody
# N is the image's recipe number below. Each is written once as an archive in the
# per-user cache ${XDG_CACHE_HOME:-$HOME/.cache}/souverain/images/ (SOUVERAIN_IMAGE_CACHE
# overrides it), named after its recipe (pause-N.tar, busybox-N.tar); an archive
# already there is not built again. Nothing is left in buildah's storage.
#
# Output, on stdout, one line per image: NAME=ARCHIVE, where `ctr -n k8s.io images
# import ARCHIVE` loads the image as NAME, e.g.
#   localhost/souverain/pause:1=/root/.cache/souverain/images/pause-1.tar
#   localhost/souverain/busybox:1=/root/.cache/souverain/images/busybox-1.tar
#
#   BUSYBOX   the static busybox to copy (default /bin/busybox, from busybox-static)
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "souverain: $*" >&2; exit 1; }

PAUSE_RECIPE=1
BUSYBOX_RECIPE=1
pause_name=localhost/souverain/pause:$PAUSE_RECIPE
busybox_name=localhost/souverain/busybox:$BUSYBOX_RECIPE
cache=${SOUVERAIN_IMAGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/souverain/images}
pause_archive=$cache/pause-$PAUSE_RECIPE.tar
busybox_archive=$cache/busybox-$BUSYBOX_RECIPE.tar

if [ -f "$pause_archive" ] && [ -f "$busybox_archive" ]; then
  echo "$pause_name=$pause_archive"
  echo "$busybox_name=$busybox_archive"
  exit 0
fi

busybox=${BUSYBOX:-/bin/busybox}
if [ -z "${BUSYBOX:-}" ] && [ ! -e "$busybox" ]; then
  "$here/../ensure-command.sh" busybox busybox-static "the node images"
fi
[ -x "$busybox" ] || fail "no busybox at $busybox; install Debian's 'busybox-static' package or set BUSYBOX"
# A dynamic busybox would need its libraries in the image.
if ldd "$busybox" >/dev/null 2>&1; then
  fail "$busybox is linked dynamically; install Debian's 'busybox-static' package or set BUSYBOX to a static one"
fi
"$here/../ensure-command.sh" buildah buildah "the node images"
mkdir -p "$cache"

work=$(mktemp -d)
container=
# shellcheck disable=SC2317  # run by the trap
cleanup() {
  if [ -n "$container" ]; then buildah rm "$container" >/dev/null 2>&1 || true; fi
  rm -rf "$work" "$pause_archive.partial" "$busybox_archive.partial"
}
trap cleanup EXIT

commit() {  # commit NAME ARCHIVE: write the working container as ARCHIVE, loaded as NAME
  rm -f "$2.partial"
  buildah commit --quiet --rm "$container" "docker-archive:$2.partial:$1" >/dev/null
  container=
  mv "$2.partial" "$2"
}

if [ ! -f "$pause_archive" ]; then
  mkdir -p "$work/pause/bin"
  cp "$busybox" "$work/pause/bin/busybox"
  # PID 1 gets no default action for SIGTERM and SIGINT: without the trap it would
  # ignore them and be killed only when the grace period ends.
  cat >"$work/pause/pause" <<'EOF'
trap 'kill "$sleeper" 2>/dev/null; exit 0' TERM INT
while :; do
  /bin/busybox sleep 86400 &
  sleeper=$!
  wait "$sleeper"
done
EOF
  chmod 0755 "$work/pause/pause"
  container=$(buildah from scratch)
  buildah copy --quiet "$container" "$work/pause" / >/dev/null
  buildah config \
    --entrypoint '["/bin/busybox", "sh", "/pause"]' \
    --user 65535:65535 \
    --label "org.opencontainers.image.description=souverain's sandbox (pause) image for containerd, from Debian's busybox-static" \
    "$container"
  commit "$pause_name" "$pause_archive"
fi

if [ ! -f "$busybox_archive" ]; then
  root=$work/busybox
  mkdir -p "$root/bin" "$root/etc" "$root/root" "$root/tmp"
  chmod 1777 "$root/tmp"
  chmod 0700 "$root/root"
  cp "$busybox" "$root/bin/busybox"
  "$busybox" --list | while read -r applet; do
    [ "$applet" = busybox ] || ln -s busybox "$root/bin/$applet"
  done
  printf '%s\n' 'root:x:0:0:root:/root:/bin/sh' 'nobody:x:65534:65534:nobody:/nonexistent:/bin/false' >"$root/etc/passwd"
  printf '%s\n' 'root:x:0:' 'nogroup:x:65534:' >"$root/etc/group"
  container=$(buildah from scratch)
  buildah copy --quiet "$container" "$root" / >/dev/null
  buildah config \
    --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    --cmd sh \
    --label "org.opencontainers.image.description=busybox for souverain's test pods, from Debian's busybox-static" \
    "$container"
  commit "$busybox_name" "$busybox_archive"
fi

echo "$pause_name=$pause_archive"
echo "$busybox_name=$busybox_archive"
