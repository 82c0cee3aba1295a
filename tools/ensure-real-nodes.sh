#!/usr/bin/env bash
# What the real-node tests need, made ready where this machine can run real nodes:
# Debian's containerd, crun, CNI plugins, iptables and busybox-static (installed when
# missing, as root through apt), kubelet and kube-proxy (built once per Kubernetes
# version), the node images (pause, busybox) and the operator image from the Dockerfile.
#
# Where the machine cannot run real nodes (not root, no apt for a missing package, or a
# capability the kernel lacks), it says why in one line and exits 0: the real-node
# tests then skip with that same reason. A build that fails on a machine that can run
# them is an error.
set -euo pipefail
cd "$(dirname "$0")/.."

skip() { echo "souverain: the real-node tests will be skipped: $*" >&2; exit 0; }

packages=()
for pair in containerd:containerd ctr:containerd crun:crun iptables:iptables ip:iproute2 \
            unshare:util-linux busybox:busybox-static; do
  command -v "${pair%%:*}" >/dev/null 2>&1 || packages+=("${pair#*:}")
done
[ -x /usr/lib/cni/bridge ] || packages+=(containernetworking-plugins)
if [ ${#packages[@]} -gt 0 ]; then
  mapfile -t packages < <(printf '%s\n' "${packages[@]}" | sort -u)
  if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    skip "Debian packages ${packages[*]} are missing and cannot be installed here (root and apt needed)"
  fi
  echo "souverain: installing Debian's ${packages[*]} for the real-node tests" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq >/dev/null
  apt-get install -y -qq --no-install-recommends "${packages[@]}" >/dev/null
fi

problems=$(.venv/bin/python -c 'from souverain.devcluster import hostnet; print("; ".join(hostnet.preflight()))')
[ -z "$problems" ] || skip "$problems"

tools/kube/build.sh kubelet kube-proxy
tools/image/node-images.sh >/dev/null
env -u IMAGE -u IMAGE_TAG -u IMAGE_ARCHIVE tools/image/build.sh  # the names the chart and tests expect
