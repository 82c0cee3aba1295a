#!/usr/bin/env bash
# `make run`: the operator doing its main job, in front of you.
#
# With no KUBECONFIG: starts a local control plane (five fake nodes, three of them
# French-sovereign), installs the CRDs, runs the operator, applies examples/ (the
# french-sovereign profile, the tenant acme-payments and its resident volume) plus a
# small Deployment in the tenant, prints where everything landed, then follows the
# operator's log. Ctrl-C stops the operator and the control plane, also when the output
# goes through a pipe.
#
# With KUBECONFIG set: runs the operator against that cluster in the foreground and
# touches nothing else (install the CRDs first: helm install, or kubectl apply -f crds/).
set -euo pipefail
cd "$(dirname "$0")/.."
souverain=.venv/bin/souverain
# Loopback addresses of the operator's endpoints; the usual SOUVERAIN_* variables change them.
liveness=${SOUVERAIN_LIVENESS:-127.0.0.1:8080}
metrics=${SOUVERAIN_METRICS_ADDRESS:-127.0.0.1:9090}
webhook=${SOUVERAIN_WEBHOOK_LISTEN:-127.0.0.1:9443}
run_args=(--liveness "$liveness" --metrics "$metrics")

if [ -n "${KUBECONFIG:-}" ]; then
  if ! kubectl get crd sovereignnamespaces.souverain.io >/dev/null 2>&1; then
    echo "souverain: the CRDs are not installed in this cluster; install the chart" \
      "(helm install souverain helm/souverain -n souverain-system --create-namespace)" \
      "or kubectl apply --server-side -f crds/" >&2
  fi
  echo "souverain: running the operator against $(kubectl config current-context 2>/dev/null || echo "$KUBECONFIG") (Ctrl-C stops it)"
  "$souverain" run "${run_args[@]}" "$@" || status=$?
  exit "${status:-0}"
fi

state=${SOUVERAIN_DEV_CLUSTER:-.souverain/dev-cluster}
log=$state.operator.log
tenant=acme-payments
operator_pid=""
tail_pid=""

# Lines for the person at the terminal. Once Ctrl-C has also ended the reader of a pipe
# (`make run | tee log`), writing to it fails: that must not end the script.
say() { echo "$@" 2>/dev/null || true; }

stop() {
  # To the end, whatever comes: a second Ctrl-C, or SIGPIPE from the closed stdout (its
  # default action would end the script before the control plane is stopped).
  trap '' INT TERM PIPE
  trap - EXIT
  set +e
  say
  say "souverain: stopping the operator and the local control plane"
  [ -n "$tail_pid" ] && kill "$tail_pid" 2>/dev/null
  if [ -n "$operator_pid" ]; then
    kill "$operator_pid" 2>/dev/null && wait "$operator_pid" 2>/dev/null
  fi
  "$souverain" dev-cluster down --state-dir "$state" >/dev/null
  say "souverain: stopped"
}
trap stop EXIT
trap 'exit 130' INT TERM

"$souverain" dev-cluster down --state-dir "$state" >/dev/null 2>&1 || true
echo "souverain: no KUBECONFIG set; starting a local control plane in $state"
KUBECONFIG=$("$souverain" dev-cluster up --state-dir "$state")
export KUBECONFIG
echo "souverain: local control plane ready; in another shell:" \
  "eval \"\$($souverain dev-cluster env --state-dir $state)\""

kubectl apply --server-side --force-conflicts -f crds/ >/dev/null
kubectl wait --for=condition=Established --timeout=60s -f crds/ >/dev/null
echo "souverain: CRDs installed; starting the operator (log: $log)"
mkdir -p "$(dirname "$log")"
: >"$log"
"$souverain" run "${run_args[@]}" \
  --webhook-listen "$webhook" --webhook-url "https://$webhook" \
  --webhook-cert-dir "$state.webhook-tls" "$@" >>"$log" 2>&1 &
operator_pid=$!
for _ in $(seq 1 120); do
  .venv/bin/python -c "import urllib.request as u; u.urlopen('http://$liveness/healthz', timeout=2)" \
    >/dev/null 2>&1 && break
  kill -0 "$operator_pid" 2>/dev/null || { tail -n 30 "$log" >&2; exit 1; }
  sleep 0.5
done

# The examples, as a platform team would apply them, and something for the tenant to run.
kubectl apply -f examples/sovereigntyprofile-french-sovereign.yaml -f examples/sovereignnamespace-tenant.yaml >/dev/null
kubectl apply -f - >/dev/null <<'YAML'
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: sovereign-ssd
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
YAML
kubectl wait --for=condition=Ready "sovereignnamespace/$tenant" --timeout=90s >/dev/null
kubectl apply -f examples/residentvolume.yaml >/dev/null
for _ in $(seq 1 60); do
  kubectl -n "$tenant" get serviceaccount default >/dev/null 2>&1 && break
  sleep 0.5
done
kubectl -n "$tenant" create deployment web --image=registry.example/web:1 --replicas=3 >/dev/null
kubectl -n "$tenant" rollout status deployment/web --timeout=90s >/dev/null

echo
echo "== Sovereign namespaces"
kubectl get sovereignnamespaces
echo
echo "== Where the tenant's pods landed"
kubectl -n "$tenant" get pods -o custom-columns='POD:.metadata.name,NODE:.spec.nodeName,PHASE:.status.phase'
echo
echo "== Nodes"
kubectl get nodes -L node-restriction.kubernetes.io/french-sovereign,topology.kubernetes.io/region,topology.kubernetes.io/zone
echo
echo "== Egress policies in $tenant"
kubectl -n "$tenant" get networkpolicies
echo
echo "== Resident volumes"
kubectl get residentvolumes -A
echo
echo "souverain: following the operator's log (Ctrl-C stops everything)"
tail -n +1 -f "$log" &
tail_pid=$!
wait "$operator_pid" || true
