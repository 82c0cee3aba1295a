#!/usr/bin/env bash
# `make run`: the operator doing its main job, in front of you.
#
# With no KUBECONFIG: starts a local control plane (five fake nodes, three of them
# French-sovereign), installs the CRDs, runs the operator, applies examples/ (the
# french-sovereign profile, the tenant acme-payments and its resident volume) plus a
# local disk on a French node and two small Deployments in the tenant, one of them using
# the volume, prints where everything landed, then follows the operator's log. Ctrl-C
# stops the operator and the control plane, also when the output goes through a pipe.
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

# REAL_NODES=1: two real nodes beside the kwok ones (real-fr-1, real-us-1; see README),
# the tenant's workloads really running there from the busybox image of `make node-images`.
up_args=()
volume_node=sov-fr-1
disk=/mnt/disks/ssd-1
web_image=registry.example/web:1
ledger_image=registry.example/ledger:1
web_command='[]'
ledger_command='[]'
if [ -n "${REAL_NODES:-}" ] && [ "${REAL_NODES}" != 0 ]; then
  up_args=(--real-nodes 2)
  volume_node=real-fr-1
  disk=$(pwd)/$state.disks/ssd-1
  web_image=localhost/souverain/busybox:1
  ledger_image=localhost/souverain/busybox:1
  web_command='["httpd", "-f", "-p", "8080"]'
  ledger_command='["sh", "-c", "date >> /var/lib/ledger/journal; exec sleep 86400"]'
fi

"$souverain" dev-cluster down --state-dir "$state" >/dev/null 2>&1 || true
echo "souverain: no KUBECONFIG set; starting a local control plane in $state${up_args[*]:+ with 2 real nodes}"
mkdir -p "$disk"
KUBECONFIG=$("$souverain" dev-cluster up --state-dir "$state" "${up_args[@]}")
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
# The local cluster's storage: a class that binds late, so that a volume follows its
# pinned pod, and one local disk of that class on a French-sovereign node (sov-fr-1, or
# real-fr-1 with real nodes).
kubectl apply -f - >/dev/null <<YAML
apiVersion: storage.k8s.io/v1
kind: StorageClass
metadata:
  name: sovereign-ssd
provisioner: kubernetes.io/no-provisioner
volumeBindingMode: WaitForFirstConsumer
---
apiVersion: v1
kind: PersistentVolume
metadata:
  name: $volume_node-ssd-1
spec:
  storageClassName: sovereign-ssd
  capacity:
    storage: 50Gi
  accessModes: [ReadWriteOnce]
  persistentVolumeReclaimPolicy: Retain
  local:
    path: $disk
  nodeAffinity:
    required:
      nodeSelectorTerms:
        - matchExpressions:
            - key: kubernetes.io/hostname
              operator: In
              values: [$volume_node]
YAML
kubectl wait --for=condition=Ready "sovereignnamespace/$tenant" --timeout=90s >/dev/null
kubectl apply -f examples/residentvolume.yaml >/dev/null
for _ in $(seq 1 60); do
  kubectl -n "$tenant" get serviceaccount default >/dev/null 2>&1 && break
  sleep 0.5
done
# The tenant's workloads: web, spread over the French nodes, and ledger, whose data is
# the resident volume's claim: its pod binds the claim to the disk and runs beside it.
kubectl -n "$tenant" apply -f - >/dev/null <<YAML
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  replicas: 3
  selector:
    matchLabels: {app: web}
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
        - name: web
          image: $web_image
          command: $web_command
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: ledger
spec:
  replicas: 1
  strategy:
    type: Recreate
  selector:
    matchLabels: {app: ledger}
  template:
    metadata:
      labels: {app: ledger}
    spec:
      containers:
        - name: ledger
          image: $ledger_image
          command: $ledger_command
          volumeMounts:
            - name: data
              mountPath: /var/lib/ledger
      volumes:
        - name: data
          persistentVolumeClaim:
            claimName: ledger-data
YAML
kubectl -n "$tenant" rollout status deployment/web --timeout=90s >/dev/null
kubectl -n "$tenant" rollout status deployment/ledger --timeout=90s >/dev/null
kubectl -n "$tenant" wait --for=condition=Ready residentvolume/ledger-data --timeout=60s >/dev/null

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
echo "== Resident volumes in $tenant"
kubectl -n "$tenant" get residentvolumes -o wide
echo
echo "souverain: following the operator's log (Ctrl-C stops everything)"
tail -n +1 -f "$log" &
tail_pid=$!
wait "$operator_pid" || true
