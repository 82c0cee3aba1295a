#!/usr/bin/env bash
# `make run`: the operator in the foreground. With no KUBECONFIG, a local control
# plane is started first and stopped again when the operator stops (Ctrl-C).
set -euo pipefail
cd "$(dirname "$0")/.."
souverain=.venv/bin/souverain

if [ -z "${KUBECONFIG:-}" ]; then
  state=.souverain/dev-cluster
  "$souverain" dev-cluster down --state-dir "$state" >/dev/null 2>&1 || true
  echo "souverain: no KUBECONFIG set; starting a local control plane in $state"
  trap '"$souverain" dev-cluster down --state-dir "$state"' EXIT
  "$souverain" dev-cluster up --state-dir "$state" >/dev/null
  export KUBECONFIG="$PWD/$state/kubeconfig"
  echo "souverain: local control plane ready; in another shell: eval \"\$($souverain dev-cluster env)\""
fi

if compgen -G "crds/*.yaml" >/dev/null; then
  kubectl apply --server-side --force-conflicts -f crds/
fi
echo "souverain: starting the operator (Ctrl-C stops it)"
"$souverain" run --liveness 127.0.0.1:8080 --metrics 127.0.0.1:9090 "$@" || status=$?
exit "${status:-0}"
