#!/usr/bin/env bash
# Checks that image archives load into containerd under the names a kubelet asks for:
# starts a throwaway containerd (its own root, state and socket in a temporary folder;
# a running containerd is left alone), imports each archive with
# `ctr -n k8s.io images import` and compares the names listed with those expected;
# then stops it and removes the folder. Needs root, as containerd does.
#
#   tools/image/check-archive.sh NAME=ARCHIVE...
#   tools/image/node-images.sh | xargs tools/image/check-archive.sh
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
fail() { echo "souverain: $*" >&2; exit 1; }

[ "$#" -gt 0 ] || fail "usage: check-archive.sh NAME=ARCHIVE..."
[ "$(id -u)" -eq 0 ] || fail "check-archive.sh starts a containerd of its own, which needs root"
"$here/../ensure-command.sh" containerd containerd "checking image archives"
"$here/../ensure-command.sh" ctr containerd "checking image archives"
for pair in "$@"; do
  [[ $pair == *=* ]] || fail "'$pair' is not NAME=ARCHIVE"
  [ -f "${pair#*=}" ] || fail "no archive at ${pair#*=}"
done

dir=$(mktemp -d)
pid=
# shellcheck disable=SC2317  # run by the trap
cleanup() {
  if [ -n "$pid" ]; then
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  fi
  # Snapshots a crashed containerd may have left mounted.
  { grep -o " $dir/[^ ]*" /proc/mounts || true; } | sort -r | while read -r mount; do umount -l "$mount" || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

cat >"$dir/config.toml" <<EOF
version = 2
root = "$dir/root"
state = "$dir/state"
disabled_plugins = ["io.containerd.grpc.v1.cri"]
[grpc]
  address = "$dir/containerd.sock"
[ttrpc]
  address = "$dir/containerd.ttrpc.sock"
[debug]
  address = ""
[metrics]
  address = ""
EOF
containerd --config "$dir/config.toml" >"$dir/containerd.log" 2>&1 &
pid=$!
ctr=(ctr --address "$dir/containerd.sock" --namespace k8s.io)
for _ in $(seq 100); do
  if "${ctr[@]}" version >/dev/null 2>&1; then break; fi
  kill -0 "$pid" 2>/dev/null || { tail -n 20 "$dir/containerd.log" >&2; fail "the throwaway containerd exited (its last lines are above)"; }
  sleep 0.1
done
"${ctr[@]}" version >/dev/null 2>&1 || fail "the throwaway containerd did not answer on $dir/containerd.sock"

status=0
for pair in "$@"; do
  name=${pair%%=*} archive=${pair#*=}
  before=$("${ctr[@]}" images ls --quiet | sort)
  "${ctr[@]}" images import "$archive" >/dev/null 2>&1 \
    || { echo "souverain: ctr could not import $archive" >&2; status=1; continue; }
  added=$(comm -13 <(echo "$before") <("${ctr[@]}" images ls --quiet | sort) | paste -sd ' ')
  if [ "$added" = "$name" ]; then
    echo "$archive: imported as $name"
  else
    echo "souverain: $archive imported as '${added:-nothing new}', not $name" >&2
    status=1
  fi
done
exit "$status"
