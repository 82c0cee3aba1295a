"""What placement enforcement costs pod creation, and how fast drift shows.

On one local control plane (with the PodNodeSelector admission plugin enabled), pods
are created through the API server by 1 and by 16 concurrent creators, in rounds that
interleave four set-ups:

  (a) a plain namespace, no policy;
  (b) a namespace with the PodNodeSelector annotation (the built-in plugin);
  (c) a sovereign namespace, souverain's native policies (MutatingAdmissionPolicy and
      ValidatingAdmissionPolicy; the operator runs with --admission-layers=native);
  (d) the same namespace, souverain's webhook (the operator runs with
      --admission-layers=webhook).

Pods name a scheduler nothing serves, so that only admission is measured. Each set-up
prints p50 and p99 latency at 1 creator and throughput at 16, and each as a ratio to
(a). Then: the time from removing a node's French-sovereign label to the namespace's
status counting the pods on it as non-compliant.
"""

from __future__ import annotations

import argparse
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
NOBODY = "bench-no-scheduler"
ADMISSION = "/apis/admissionregistration.k8s.io/v1"


def pod_body(name: str) -> bytes:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name},
            "spec": {
                "schedulerName": NOBODY,
                "containers": [{"name": "app", "image": "registry.example/app:1"}],
            },
        }
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


def create_pods(
    server: Server, namespace: str, creators: int, per_creator: int
) -> tuple[list[float], float]:
    """Latencies (s) of every create, and the wall time of the whole batch."""
    latencies: list[float] = []
    lock = threading.Lock()
    failures: list[str] = []
    stamp = f"{time.monotonic_ns():x}"

    def creator(index: int) -> None:
        mine = []
        for i in range(per_creator):
            body = pod_body(f"p-{stamp}-{index}-{i}")
            start = time.perf_counter()
            response = server.request("POST", f"/api/v1/namespaces/{namespace}/pods", body)
            mine.append(time.perf_counter() - start)
            if response.status != 201:
                failures.append(f"{response.status} {response.data[:300]!r}")
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=creator, args=(i,)) for i in range(creators)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - start
    if failures:
        raise SystemExit(f"pod creation failed in {namespace}: {failures[0]}")
    server.request("DELETE", f"/api/v1/namespaces/{namespace}/pods")
    return latencies, wall


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

    def patched(self) -> float:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics}/metrics", timeout=2) as r:
            text = r.read().decode()
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in text.splitlines()
            if line.startswith("souverain_admission_decisions_total")
            and 'outcome="patched"' in line
        )

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=60)


def pinned_on_dry_run(server: Server) -> bool:
    response = server.request(
        "POST", f"/api/v1/namespaces/{SOVEREIGN}/pods?dryRun=All", pod_body("probe")
    )
    if response.status != 201:
        return False
    affinity = json.loads(response.data)["spec"].get("affinity") or {}
    return "nodeAffinity" in affinity


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


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--rounds", type=int, default=3)
    options.add_argument("--pods", type=int, default=150, help="pods per round, 1 creator")
    options.add_argument("--per-creator", type=int, default=30, help="pods per creator at 16")
    args = options.parse_args()
    kubectl = str(bin_dir() / "kubectl")

    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        cluster = DevCluster(scratch / "cluster", admission_plugins=("PodNodeSelector",))
        state = cluster.up()
        operator: OperatorProcess | None = None
        try:
            env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
            for verb in (
                ["apply", "--server-side", "-f", str(REPO / "crds")],
                ["wait", "--for=condition=Established", "-f", str(REPO / "crds")],
            ):
                subprocess.run([kubectl, *verb], env=env, check=True, stdout=subprocess.DEVNULL)
            server = Server(state.apiserver_url, cluster.state_dir / "pki")
            webhook_port = free_port()
            with cluster.api_client() as api:
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
                        GROUP,
                        VERSION,
                        "sovereignnamespaces",
                        {
                            "apiVersion": f"{GROUP}/{VERSION}",
                            "kind": "SovereignNamespace",
                            "metadata": {"name": name},
                            "spec": {"profileName": PROFILE},
                        },
                    )
                for name in (PLAIN, SELECTED, SOVEREIGN, DRIFT):
                    wait(
                        lambda name=name: server.exists(
                            f"/api/v1/namespaces/{name}/serviceaccounts/default"
                        ),
                        f"the default ServiceAccount of {name}",
                    )

                results: dict[str, dict[int, list[float]]] = {
                    column: {1: [], 16: []} for column in "abcd"
                }
                walls: dict[str, list[tuple[int, float]]] = {column: [] for column in "abcd"}

                def measure(column: str, namespace: str) -> None:
                    create_pods(server, namespace, 1, 20)  # warm-up, not counted
                    latencies, _ = create_pods(server, namespace, 1, args.pods)
                    results[column][1].extend(latencies)
                    latencies, wall = create_pods(server, namespace, 16, args.per_creator)
                    results[column][16].extend(latencies)
                    walls[column].append((len(latencies), wall))

                for round_number in range(args.rounds):
                    if operator is None:
                        operator = OperatorProcess(
                            cluster.kubeconfig, scratch, "native", webhook_port
                        )
                    wait(lambda: native_only(server), "souverain's native policies alone")
                    measure("a", PLAIN)
                    measure("b", SELECTED)
                    measure("c", SOVEREIGN)
                    operator.stop()
                    operator = None
                    operator = OperatorProcess(cluster.kubeconfig, scratch, "webhook", webhook_port)
                    wait(
                        lambda running=operator: webhook_only(server, running),
                        "souverain's webhook alone",
                    )
                    measure("d", SOVEREIGN)
                    if round_number < args.rounds - 1:
                        operator.stop()
                        operator = None
                    print(f"round {round_number + 1}/{args.rounds} done", file=sys.stderr)

                names = {
                    "a": "(a) no policy",
                    "b": "(b) PodNodeSelector",
                    "c": "(c) souverain native policies",
                    "d": "(d) souverain webhook",
                }
                base_p50 = statistics.median(results["a"][1])
                base_p99 = percentile(results["a"][1], 0.99)
                base_rate = sum(n for n, _ in walls["a"]) / sum(w for _, w in walls["a"])
                print(
                    f"Pod CREATE on Kubernetes {server_version(server)}, {args.rounds} rounds, "
                    f"{args.pods} pods/round at 1 creator, {16 * args.per_creator} at 16"
                )
                print(
                    f"{'':32} {'p50 1c':>10} {'p99 1c':>10} {'p50 16c':>10} {'pods/s 16c':>11}"
                    f" {'p50 x':>7} {'p99 x':>7} {'pods/s x':>9}"
                )
                for column in "abcd":
                    p50 = statistics.median(results[column][1])
                    p99 = percentile(results[column][1], 0.99)
                    p50_16 = statistics.median(results[column][16])
                    rate = sum(n for n, _ in walls[column]) / sum(w for _, w in walls[column])
                    print(
                        f"{names[column]:32} {p50 * 1000:8.2f}ms {p99 * 1000:8.2f}ms"
                        f" {p50_16 * 1000:8.2f}ms {rate:11.0f}"
                        f" {p50 / base_p50:6.2f}x {p99 / base_p99:6.2f}x {rate / base_rate:8.2f}x"
                    )

                # Drift: a few pods on sovereign nodes, then a label removed.
                apps = client.AppsV1Api(api)
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
                                "spec": {
                                    "containers": [
                                        {"name": "app", "image": "registry.example/app:1"}
                                    ]
                                },
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
        finally:
            if operator is not None:
                operator.stop()
            cluster.down()


def server_version(server: Server) -> str:
    return str(json.loads(server.request("GET", "/version").data)["gitVersion"])


if __name__ == "__main__":
    main()
