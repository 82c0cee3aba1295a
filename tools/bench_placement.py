"""What placement enforcement costs pod creation, against its floors, and how fast drift
shows.

On one local control plane (with the PodNodeSelector admission plugin enabled), pods
are created through the API server by a tenant (the administrator's connection
impersonating a user; souverain's policies let the administrator through) by 1 and by
16 concurrent creators, in rounds that interleave eight set-ups:

  (a) a plain namespace, no policy;
  (b) a namespace with the PodNodeSelector annotation (the built-in plugin);
  (e) a plain namespace with a trivial MutatingAdmissionPolicy: one constant JSON patch
      (the pinned affinity), no parameter. It is the cost of the mechanism itself, the
      floor of any native pinning;
  (h) a namespace with what souverain's native checks need, doing next to nothing: a
      MutatingAdmissionPolicy that copies the profile's node requirements into the pod
      and a one-field ValidatingAdmissionPolicy, both reading the profile as their
      parameter, and the Pod Security level
      (tools/bench_floors.py). (h) / (e) is the price of those mechanisms, (c) / (h)
      that of souverain's expressions;
  (c) a sovereign namespace, souverain's native policies (MutatingAdmissionPolicy and
      ValidatingAdmissionPolicies, and the Pod Security level its profile sets; the
      operator runs with --admission-layers=native);
  (f) a plain namespace with a bare webhook (tools/bare_webhook.py): the same TLS and
      aiohttp stack as souverain's, in a process of its own, answering every review
      with one constant patch. It is the floor of any webhook pinning;
  (d) the sovereign namespace, souverain's webhook (the operator runs with
      --admission-layers=webhook; the other native policies stay);
  (g) the sovereign namespace with both layers, the Helm chart's default (the operator
      runs with --admission-layers=native,webhook: the policies pin, and the webhook is
      called after them).

Pods name a scheduler nothing serves, so that only admission is measured. Each set-up
prints p50 and p99 latency at 1 creator and throughput at 16, each as a ratio to (a),
and (c) as a ratio to (e), (d) to (f), with the issue's targets, and (c) to (h). Then: the time from
removing a node's French-sovereign label to the namespace's status counting the pods
on it as non-compliant.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import urllib3
from bench_floors import MECHANISMS_FLOOR, mechanisms_floor, mechanisms_namespace
from kubernetes import client

from souverain.admission.placement import (
    MUTATING_POLICY_NAME,
    VALIDATING_POLICY_NAME,
    WEBHOOK_CONFIGURATION_NAME,
    binding_name,
)
from souverain.devcluster.binaries import bin_dir
from souverain.devcluster.cluster import DevCluster, free_port
from souverain.devcluster.nodes import SOVEREIGN_LABEL

REPO = Path(__file__).resolve().parents[1]
GROUP, VERSION = "souverain.io", "v1alpha1"
PROFILE = "bench"
SOVEREIGN = "bench-sovereign"
DRIFT = "bench-drift"
PLAIN, SELECTED = "bench-plain", "bench-node-selector"
NATIVE_FLOOR, WEBHOOK_FLOOR = "bench-native-floor", "bench-webhook-floor"
FLOOR_LABEL = "bench.souverain.io/floor"
NOBODY = "bench-no-scheduler"
ADMISSION = "/apis/admissionregistration.k8s.io/v1"
TENANT = "bench-tenant"
"""Who creates the pods: not the administrator, whom every souverain policy lets through."""
PINNED_AFFINITY = {
    "nodeAffinity": {
        "requiredDuringSchedulingIgnoredDuringExecution": {
            "nodeSelectorTerms": [
                {
                    "matchExpressions": [
                        {"key": SOVEREIGN_LABEL, "operator": "In", "values": ["true"]}
                    ]
                }
            ]
        }
    }
}


def pod_body(name: str, affinity: dict[str, Any] | None = None) -> bytes:
    """A pod that names a scheduler nothing serves; with ``affinity``, pinned already."""
    spec: dict[str, Any] = {
        "schedulerName": NOBODY,
        "containers": [{"name": "app", "image": "registry.example/app:1"}],
    }
    if affinity is not None:
        spec["affinity"] = affinity
    return json.dumps(
        {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": spec}
    ).encode()


@dataclass
class Server:
    """Raw HTTPS to the API server as its admin: the least client overhead per request."""

    url: str
    pki: Path
    pool: urllib3.PoolManager = field(init=False)

    def __post_init__(self) -> None:
        self.pool = urllib3.PoolManager(
            maxsize=32,
            cert_reqs="CERT_REQUIRED",
            ca_certs=str(self.pki / "ca.crt"),
            cert_file=str(self.pki / "admin.crt"),
            key_file=str(self.pki / "admin.key"),
        )

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        content_type: str = "application/json",
    ) -> Any:
        return self.pool.request(
            method,
            self.url + path,
            body=body,
            headers={"Content-Type": content_type, "Accept": "application/json"},
        )

    def exists(self, path: str) -> bool:
        return bool(self.request("GET", path).status == 200)


class TenantServer(Server):
    """The administrator's connection acting as :data:`TENANT` (impersonation), so that
    the policies evaluate every request as they do a tenant's."""

    def request(self, method: str, path: str, body: bytes | None = None) -> Any:
        return self.pool.request(
            method,
            self.url + path,
            body=body,
            headers={
                "Content-Type": "application/json",
                "Accept": "application/json",
                "Impersonate-User": TENANT,
            },
        )


def install_crds(kubeconfig: Path) -> None:
    """Applies souverain's CRDs and waits until the API server serves them."""
    kubectl = str(bin_dir() / "kubectl")
    env = {**os.environ, "KUBECONFIG": str(kubeconfig)}
    for verb in (
        ["apply", "--server-side", "-f", str(REPO / "crds")],
        ["wait", "--for=condition=Established", "-f", str(REPO / "crds")],
    ):
        subprocess.run([kubectl, *verb], env=env, check=True, stdout=subprocess.DEVNULL)


def sovereign_namespace(name: str, profile: str) -> dict[str, Any]:
    """A SovereignNamespace bound to ``profile``."""
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SovereignNamespace",
        "metadata": {"name": name},
        "spec": {"profileName": profile},
    }


def tenant_is_admin(api: Any) -> None:
    """Lets :data:`TENANT` do anything, as a user, not as a member of system:masters."""
    client.RbacAuthorizationV1Api(api).create_cluster_role_binding(
        {
            "metadata": {"name": TENANT},
            "roleRef": {
                "apiGroup": "rbac.authorization.k8s.io",
                "kind": "ClusterRole",
                "name": "cluster-admin",
            },
            "subjects": [{"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": TENANT}],
        }
    )


def pinning_patch() -> str:
    """CEL: the constant JSON patch of the trivial policies, a required node affinity."""
    # CEL map literals are homogeneous: the requirement's string and list meet as dyn.
    requirement = (
        f"{{'key': dyn('{SOVEREIGN_LABEL}'), 'operator': dyn('In'), 'values': dyn(['true'])}}"
    )
    terms = f"{{'nodeSelectorTerms': [{{'matchExpressions': [{requirement}]}}]}}"
    affinity = f"{{'nodeAffinity': {{'requiredDuringSchedulingIgnoredDuringExecution': {terms}}}}}"
    return f"[JSONPatch{{op: 'add', path: '/spec/affinity', value: {affinity}}}]"


def native_floor() -> list[dict[str, Any]]:
    """The trivial MutatingAdmissionPolicy of set-up (e) and its binding."""
    selected = {"matchLabels": {FLOOR_LABEL: "native"}}
    patch = pinning_patch()
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingAdmissionPolicy",
            "metadata": {"name": NATIVE_FLOOR},
            "spec": {
                "failurePolicy": "Fail",
                "reinvocationPolicy": "Never",
                "matchConstraints": {
                    "resourceRules": [
                        {
                            "apiGroups": [""],
                            "apiVersions": ["v1"],
                            "operations": ["CREATE"],
                            "resources": ["pods"],
                        }
                    ],
                    "namespaceSelector": selected,
                },
                "mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": patch}}],
            },
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingAdmissionPolicyBinding",
            "metadata": {"name": NATIVE_FLOOR},
            "spec": {"policyName": NATIVE_FLOOR, "matchResources": {"namespaceSelector": selected}},
        },
    ]


def webhook_floor(port: int, ca_pem: bytes) -> dict[str, Any]:
    """The MutatingWebhookConfiguration of set-up (f), calling tools/bare_webhook.py."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": WEBHOOK_FLOOR},
        "webhooks": [
            {
                "name": "pin.floor.bench.souverain.io",
                "clientConfig": {
                    "url": f"https://127.0.0.1:{port}/pin",
                    "caBundle": base64.b64encode(ca_pem).decode(),
                },
                "rules": [
                    {
                        "apiGroups": [""],
                        "apiVersions": ["v1"],
                        "operations": ["CREATE"],
                        "resources": ["pods"],
                        "scope": "Namespaced",
                    }
                ],
                "admissionReviewVersions": ["v1"],
                "sideEffects": "None",
                "timeoutSeconds": 5,
                "failurePolicy": "Fail",
                "matchPolicy": "Equivalent",
                "namespaceSelector": {"matchLabels": {FLOOR_LABEL: "webhook"}},
            }
        ],
    }


def create_admission(server: Server, manifest: dict[str, Any]) -> None:
    """Creates an admissionregistration.k8s.io/v1 object."""
    kind = manifest["kind"].lower()
    plural = kind[:-1] + "ies" if kind.endswith("y") else kind + "s"
    response = server.request("POST", f"{ADMISSION}/{plural}", json.dumps(manifest).encode())
    if response.status != 201:
        raise SystemExit(f"{manifest['kind']}: {response.data[:2000]!r}")


class BareWebhook:
    """tools/bare_webhook.py as a process of its own."""

    def __init__(self, scratch: Path) -> None:
        self.port = free_port()
        certificates = scratch / "bare-webhook"
        log = open(scratch / "bare-webhook.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                str(REPO / "tools" / "bare_webhook.py"),
                f"--listen=127.0.0.1:{self.port}",
                f"--cert-dir={certificates}",
            ],
            stdout=subprocess.PIPE,
            stderr=log,
        )
        log.close()
        assert self.process.stdout is not None
        if self.process.stdout.readline().strip() != b"listening":
            raise SystemExit("the bare webhook did not start: see bare-webhook.log")
        self.ca_pem = (certificates / "ca.crt").read_bytes()

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def cpu_seconds(pid: int) -> float:
    """The CPU time (user and system) process ``pid`` has used so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class Batch:
    latencies: list[float]
    """Seconds of every create."""
    wall: float
    """Seconds of the whole batch."""
    cpu: dict[str, float]
    """CPU seconds each measured process used during the batch."""


def create_batch(
    server: Server,
    namespace: str,
    creators: int,
    per_creator: int,
    body_of: Callable[[str], bytes] | None = None,
    processes: dict[str, int] | None = None,
) -> Batch:
    """Creates ``creators`` x ``per_creator`` pods, measuring the CPU of ``processes``
    (name: pid) over the creates; then deletes them."""
    latencies: list[float] = []
    lock = threading.Lock()
    failures: list[str] = []
    stamp = f"{time.monotonic_ns():x}"

    def creator(index: int) -> None:
        mine = []
        for i in range(per_creator):
            body = (body_of or pod_body)(f"p-{stamp}-{index}-{i}")
            start = time.perf_counter()
            response = server.request("POST", f"/api/v1/namespaces/{namespace}/pods", body)
            mine.append(time.perf_counter() - start)
            if response.status != 201:
                failures.append(f"{response.status} {response.data[:300]!r}")
        with lock:
            latencies.extend(mine)

    processes = processes or {}
    threads = [threading.Thread(target=creator, args=(i,)) for i in range(creators)]
    before = {name: cpu_seconds(pid) for name, pid in processes.items()}
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    used = {name: cpu_seconds(pid) - before[name] for name, pid in processes.items()}
    if failures:
        raise SystemExit(f"pod creation failed in {namespace}: {failures[0]}")
    server.request("DELETE", f"/api/v1/namespaces/{namespace}/pods")
    return Batch(latencies, wall, used)


def create_pods(
    server: Server,
    namespace: str,
    creators: int,
    per_creator: int,
    body_of: Callable[[str], bytes] | None = None,
) -> tuple[list[float], float]:
    """Latencies (s) of every create, and the wall time of the whole batch."""
    batch = create_batch(server, namespace, creators, per_creator, body_of)
    return batch.latencies, batch.wall


def wait(probe: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if probe():
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


class OperatorProcess:
    """``souverain run`` with one set of admission layers."""

    def __init__(self, kubeconfig: Path, scratch: Path, layers: str, webhook_port: int) -> None:
        self.metrics = free_port()
        liveness = free_port()
        log = open(scratch / f"operator-{layers}-{time.monotonic_ns()}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "souverain",
                "run",
                f"--liveness=127.0.0.1:{liveness}",
                f"--metrics=127.0.0.1:{self.metrics}",
                f"--webhook-listen=127.0.0.1:{webhook_port}",
                f"--webhook-url=https://127.0.0.1:{webhook_port}",
                f"--webhook-cert-dir={scratch / 'webhook-certificates'}",
                f"--admission-layers={layers}",
            ],
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

        def healthy() -> bool:
            with urllib.request.urlopen(f"http://127.0.0.1:{liveness}/healthz", timeout=1):
                return True

        wait(healthy, "the operator to start")

    def patched(self, outcome: str = "patched") -> float:
        """How many pod reviews the webhook answered with ``outcome`` so far."""
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics", timeout=2) as r:
            text = r.read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("souverain_admission_decisions_total")
            and f'outcome="{outcome}"' in line
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def pinned_on_dry_run(server: Server) -> bool:
    return pinned_in(server, SOVEREIGN)


def native_only(server: Server) -> bool:
    webhook = f"{ADMISSION}/mutatingwebhookconfigurations/{WEBHOOK_CONFIGURATION_NAME}"
    binding = f"{ADMISSION}/mutatingadmissionpolicybindings/" + binding_name(
        MUTATING_POLICY_NAME, PROFILE
    )
    return not server.exists(webhook) and server.exists(binding) and pinned_on_dry_run(server)


def webhook_only(server: Server, operator: OperatorProcess) -> bool:
    bindings = [
        f"{ADMISSION}/mutatingadmissionpolicybindings/"
        + binding_name(MUTATING_POLICY_NAME, PROFILE),
        f"{ADMISSION}/validatingadmissionpolicybindings/"
        + binding_name(VALIDATING_POLICY_NAME, PROFILE),
    ]
    if any(server.exists(path) for path in bindings):
        return False
    before = operator.patched()
    # Pinned by the webhook, not by a policy the API server still caches.
    return pinned_on_dry_run(server) and operator.patched() == before + 1


def both_layers(server: Server, operator: OperatorProcess) -> bool:
    """Whether the native policies pin and the webhook is called after them."""
    webhook = f"{ADMISSION}/mutatingwebhookconfigurations/{WEBHOOK_CONFIGURATION_NAME}"
    if not server.exists(webhook):
        return False
    before = operator.patched("allowed")
    # The policy pinned the pod, so the webhook had nothing to patch.
    return pinned_on_dry_run(server) and operator.patched("allowed") == before + 1


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def violation_latency(objects: Any, core: Any, samples: int) -> list[float]:
    """Seconds from removing a node's label to the status counting its pods."""
    found = []
    for _ in range(samples):
        pods = core.list_namespaced_pod(DRIFT).items
        node = pods[0].spec.node_name
        start = time.perf_counter()
        core.patch_node(node, {"metadata": {"labels": {SOVEREIGN_LABEL: None}}})

        def counted() -> bool:
            status = objects.get_cluster_custom_object(
                GROUP, VERSION, "sovereignnamespaces", DRIFT
            ).get("status", {})
            return int(status.get("nonCompliantPods") or 0) > 0

        deadline = time.monotonic() + 30
        while not counted():
            if time.monotonic() > deadline:
                raise SystemExit("the violation never showed in status")
            time.sleep(0.01)
        found.append(time.perf_counter() - start)
        core.patch_node(node, {"metadata": {"labels": {SOVEREIGN_LABEL: "true"}}})

        def clean() -> bool:
            status = objects.get_cluster_custom_object(
                GROUP, VERSION, "sovereignnamespaces", DRIFT
            ).get("status", {})
            return status.get("nonCompliantPods") == 0

        wait(clean, "the namespace to be compliant again")
    return found


def pinned_in(server: Server, namespace: str) -> bool:
    """Whether a dry-run pod of ``namespace`` comes back with a node affinity."""
    response = server.request(
        "POST", f"/api/v1/namespaces/{namespace}/pods?dryRun=All", pod_body("probe")
    )
    if response.status != 201:
        return False
    return "nodeAffinity" in (json.loads(response.data)["spec"].get("affinity") or {})


NAMES: dict[str, str] = {
    "a": "(a) no policy",
    "b": "(b) PodNodeSelector",
    "e": "(e) trivial MAP (native floor)",
    "h": "(h) MAP+VAP+PodSecurity, trivial",
    "c": "(c) souverain native policies",
    "f": "(f) bare webhook (webhook floor)",
    "d": "(d) souverain webhook",
    "g": "(g) souverain default (both)",
}
TARGETS: tuple[tuple[str, str, str, float, str], ...] = (
    # (column, against, figure, at most/at least, what)
    ("c", "e", "p50", 1.15, "at most"),
    ("c", "e", "rate", 1 / 1.15, "at least"),
    ("d", "f", "p50", 1.2, "at most"),
    ("d", "f", "rate", 1 / 1.2, "at least"),
    ("c", "a", "p50", 1.5, "at most"),
    ("c", "a", "rate", 0.8, "at least"),
    ("d", "a", "p50", 1.5, "at most"),
    ("d", "a", "rate", 0.8, "at least"),
)


@dataclass
class Figures:
    p50: float
    p99: float
    p50_16: float
    rate: float
    apiserver_cpu: float
    """CPU seconds of the API server per pod created."""
    cpu: float
    """CPU seconds per pod of the control plane, the operator and the bare webhook."""


def figures_of(
    latencies: dict[int, list[float]],
    walls: list[tuple[int, float]],
    cpu: list[tuple[int, float, float]],
) -> Figures:
    pods = sum(n for n, _, _ in cpu)
    return Figures(
        statistics.median(latencies[1]),
        percentile(latencies[1], 0.99),
        statistics.median(latencies[16]),
        sum(n for n, _ in walls) / sum(w for _, w in walls),
        sum(a for _, a, _ in cpu) / pods,
        sum(t for _, _, t in cpu) / pods,
    )


def report(server: Server, args: argparse.Namespace, figures: dict[str, Figures]) -> None:
    base = figures["a"]
    print(
        f"Pod CREATE as a tenant on Kubernetes {server_version(server)}, {args.rounds} rounds, "
        f"{args.pods} pods/round at 1 creator, {16 * args.per_creator} at 16"
    )
    print(
        "CPU/pod: CPU milliseconds per pod created, of the API server alone and of every"
        " process (control plane, operator, bare webhook), over both batches"
    )
    print(
        f"{'':34} {'p50 1c':>9} {'p99 1c':>9} {'p50 16c':>9} {'pods/s 16c':>10}"
        f" {'apisrv/pod':>10} {'CPU/pod':>8}"
        f" {'p50 /a':>7} {'p99 /a':>7} {'rate /a':>8} {'CPU /a':>7}"
        f" {'p50 /floor':>11} {'rate /floor':>12} {'CPU /floor':>11}"
    )
    floors = {"c": "e", "d": "f"}
    for column, name in NAMES.items():
        found = figures[column]
        floor = figures.get(floors.get(column, ""))
        against = (
            f" {found.p50 / floor.p50:10.2f}x {found.rate / floor.rate:11.2f}x"
            f" {found.cpu / floor.cpu:10.2f}x"
            if floor
            else ""
        )
        print(
            f"{name:34} {found.p50 * 1000:7.2f}ms {found.p99 * 1000:7.2f}ms"
            f" {found.p50_16 * 1000:7.2f}ms {found.rate:10.0f}"
            f" {found.apiserver_cpu * 1000:8.2f}ms {found.cpu * 1000:6.2f}ms"
            f" {found.p50 / base.p50:6.2f}x {found.p99 / base.p99:6.2f}x"
            f" {found.rate / base.rate:7.2f}x {found.cpu / base.cpu:6.2f}x{against}"
        )
    print("Targets (ratios in this run):")
    for column, against, figure, bound, word in TARGETS:
        ratio = getattr(figures[column], figure) / getattr(figures[against], figure)
        met = ratio <= bound if word == "at most" else ratio >= bound
        what = "p50 at 1 creator" if figure == "p50" else "pods/s at 16 creators"
        print(
            f"  ({column}) / ({against}) {what}: {ratio:.2f}x, target {word} {bound:.2f}x:"
            f" {'met' if met else 'NOT met'}"
        )
    print("The mechanisms (h) against the native floor, and souverain against them:")
    mechanisms(figures)


def mechanisms(figures: dict[str, Figures]) -> None:
    """What the mechanisms souverain needs cost, against (e), and what its own
    expressions cost on top, against (h)."""
    for column, against in (("h", "e"), ("c", "h")):
        found, floor = figures[column], figures[against]
        print(
            f"  ({column}) / ({against}): p50 {found.p50 / floor.p50:.2f}x,"
            f" pods/s {found.rate / floor.rate:.2f}x, CPU/pod {found.cpu / floor.cpu:.2f}x,"
            f" API server CPU/pod {found.apiserver_cpu / floor.apiserver_cpu:.2f}x"
        )


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--rounds", type=int, default=3)
    options.add_argument("--pods", type=int, default=150, help="pods per round, 1 creator")
    options.add_argument("--per-creator", type=int, default=30, help="pods per creator at 16")
    options.add_argument("--no-drift", action="store_true", help="skip the drift latency")
    args = options.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        cluster = DevCluster(scratch / "cluster", admission_plugins=("PodNodeSelector",))
        state = cluster.up()
        operator: OperatorProcess | None = None
        bare = BareWebhook(scratch)
        try:
            install_crds(cluster.kubeconfig)
            admin = Server(state.apiserver_url, cluster.state_dir / "pki")
            tenant = TenantServer(state.apiserver_url, cluster.state_dir / "pki")
            webhook_port = free_port()
            with cluster.api_client() as api:
                tenant_is_admin(api)
                core = client.CoreV1Api(api)
                objects = client.CustomObjectsApi(api)
                core.create_namespace({"metadata": {"name": PLAIN}})
                core.create_namespace(
                    {
                        "metadata": {
                            "name": SELECTED,
                            "annotations": {
                                "scheduler.alpha.kubernetes.io/node-selector": (
                                    f"{SOVEREIGN_LABEL}=true"
                                )
                            },
                        }
                    }
                )
                for name, floor in ((NATIVE_FLOOR, "native"), (WEBHOOK_FLOOR, "webhook")):
                    core.create_namespace(
                        {"metadata": {"name": name, "labels": {FLOOR_LABEL: floor}}}
                    )
                core.create_namespace(mechanisms_namespace(FLOOR_LABEL))
                for manifest in (
                    *native_floor(),
                    webhook_floor(bare.port, bare.ca_pem),
                    *mechanisms_floor(FLOOR_LABEL, PROFILE),
                ):
                    create_admission(admin, manifest)
                operator = OperatorProcess(cluster.kubeconfig, scratch, "native", webhook_port)
                objects.create_cluster_custom_object(
                    GROUP,
                    VERSION,
                    "sovereigntyprofiles",
                    {
                        "apiVersion": f"{GROUP}/{VERSION}",
                        "kind": "SovereigntyProfile",
                        "metadata": {"name": PROFILE},
                        "spec": {
                            "nodeRequirements": [
                                {"key": SOVEREIGN_LABEL, "operator": "In", "values": ["true"]}
                            ]
                        },
                    },
                )
                for name in (SOVEREIGN, DRIFT):
                    objects.create_cluster_custom_object(
                        GROUP, VERSION, "sovereignnamespaces", sovereign_namespace(name, PROFILE)
                    )
                floors = (NATIVE_FLOOR, WEBHOOK_FLOOR, MECHANISMS_FLOOR)
                for name in (PLAIN, SELECTED, *floors, SOVEREIGN, DRIFT):
                    wait(
                        lambda name=name: admin.exists(
                            f"/api/v1/namespaces/{name}/serviceaccounts/default"
                        ),
                        f"the default ServiceAccount of {name}",
                    )
                for name in floors:
                    wait(lambda name=name: pinned_in(tenant, name), f"the floor of {name}")

                results: dict[str, dict[int, list[float]]] = {
                    column: {1: [], 16: []} for column in NAMES
                }
                walls: dict[str, list[tuple[int, float]]] = {column: [] for column in NAMES}
                cpu: dict[str, list[tuple[int, float, float]]] = {column: [] for column in NAMES}
                control_plane = {record.name: record.pid for record in state.processes}

                def measure(column: str, namespace: str) -> None:
                    assert operator is not None
                    processes = {
                        **control_plane,
                        "operator": operator.process.pid,
                        "bare webhook": bare.process.pid,
                    }
                    create_pods(tenant, namespace, 1, 20)  # warm-up, not counted
                    batches = [
                        create_batch(tenant, namespace, 1, args.pods, processes=processes),
                        create_batch(tenant, namespace, 16, args.per_creator, processes=processes),
                    ]
                    results[column][1].extend(batches[0].latencies)
                    results[column][16].extend(batches[1].latencies)
                    walls[column].append((len(batches[1].latencies), batches[1].wall))
                    for batch in batches:
                        cpu[column].append(
                            (
                                len(batch.latencies),
                                batch.cpu["kube-apiserver"],
                                sum(batch.cpu.values()),
                            )
                        )

                for round_number in range(args.rounds):
                    if operator is None:
                        operator = OperatorProcess(
                            cluster.kubeconfig, scratch, "native", webhook_port
                        )
                    wait(lambda: native_only(admin), "souverain's native policies alone")
                    measure("a", PLAIN)
                    measure("b", SELECTED)
                    measure("e", NATIVE_FLOOR)
                    measure("h", MECHANISMS_FLOOR)
                    measure("c", SOVEREIGN)
                    operator.stop()
                    operator = None
                    operator = OperatorProcess(
                        cluster.kubeconfig, scratch, "native,webhook", webhook_port
                    )
                    wait(
                        lambda running=operator: both_layers(admin, running),
                        "souverain's two layers",
                    )
                    measure("g", SOVEREIGN)
                    operator.stop()
                    operator = None
                    operator = OperatorProcess(cluster.kubeconfig, scratch, "webhook", webhook_port)
                    wait(
                        lambda running=operator: webhook_only(admin, running),
                        "souverain's webhook alone",
                    )
                    measure("f", WEBHOOK_FLOOR)
                    measure("d", SOVEREIGN)
                    if round_number < args.rounds - 1:
                        operator.stop()
                        operator = None
                    print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)

                report(
                    admin,
                    args,
                    {
                        column: figures_of(results[column], walls[column], cpu[column])
                        for column in NAMES
                    },
                )
                if not args.no_drift:
                    drift(core, objects)
        finally:
            if operator is not None:
                operator.stop()
            bare.stop()
            cluster.down()


def drift(core: Any, objects: Any) -> None:
    """A few pods on sovereign nodes, then a label removed: how soon status says so."""
    apps = client.AppsV1Api(core.api_client)
    apps.create_namespaced_deployment(
        DRIFT,
        {
            "apiVersion": "apps/v1",
            "kind": "Deployment",
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 3,
                "selector": {"matchLabels": {"app": "web"}},
                "template": {
                    "metadata": {"labels": {"app": "web"}},
                    "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
                },
            },
        },
    )

    def compliant() -> bool:
        status = objects.get_cluster_custom_object(
            GROUP, VERSION, "sovereignnamespaces", DRIFT
        ).get("status", {})
        return status.get("compliantPods") == 3

    wait(compliant, "3 compliant pods in the drift namespace")
    latencies = violation_latency(objects, core, 5)
    print(
        "Violation visible in status after a node loses its label: "
        f"median {statistics.median(latencies) * 1000:.0f} ms, "
        f"max {max(latencies) * 1000:.0f} ms ({len(latencies)} samples)"
    )


def server_version(server: Server) -> str:
    return str(json.loads(server.request("GET", "/version").data)["gitVersion"])


if __name__ == "__main__":
    main()
