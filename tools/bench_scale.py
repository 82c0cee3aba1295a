"""souverain at scale: 1,000 SovereignNamespaces and 10,000 scheduled pods.

On one local control plane with kwok nodes that all qualify as French-sovereign (their
pod capacity raised to hold the pods):

1. the floor of writing the objects of the SovereignNamespaces with a bare client, as
   ``tools/bench_namespaces.py`` measures it, then souverain's time to Ready for as many
   SovereignNamespaces, and its ratio to the floor;
2. the pods, created directly, spread evenly over the namespaces, pinned by souverain's
   native policies, bound by the scheduler and Running under kwok; then the operator's
   resident memory (now and at its peak) and CPU seconds, once its status counts every
   pod;
3. drift at that scale: a node loses its French-sovereign label, and a watch times
   until the first and until the last SovereignNamespace with pods on it counts them
   non-compliant; the label is put back and the namespaces are compliant again before
   the next sample.

Each figure is printed beside the target of issue #15. ``--namespaces 50 --pods 500
--nodes 5`` is a quick run.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import math
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from bench_namespaces import (  # beside this script
    PROFILE,
    SovereignNamespaceWatch,
    install_crds,
    measure_floor,
    per_namespace,
    process_figures,
    request_counts,
    start_operator,
    time_to_ready,
    write,
)
from bench_placement import Server

from souverain.devcluster.cluster import DevCluster
from souverain.devcluster.nodes import SOVEREIGN_LABEL, NodeSpec

CREATORS = 32
"""Clients creating pods at once: one creator leaves the API server mostly idle."""
READY_TARGET = 2.0
"""Ready within this many times the floor."""
RESIDENT_TARGET = 200.0
"""MiB the operator may hold with the namespaces and pods of the full run."""
DRIFT_TARGET = 2.0
"""Seconds until drift shows in status."""


def sovereign_nodes(count: int, pods: int) -> list[NodeSpec]:
    """``count`` French-sovereign kwok nodes over two zones, each with room for twice its
    share of the pods (and at least the kubelet's default of 110)."""
    capacity = {
        "cpu": "64",
        "memory": "256Gi",
        "pods": str(max(110, math.ceil(2 * pods / count))),
        "ephemeral-storage": "1Ti",
    }
    return [
        NodeSpec(
            name=f"sov-{i:03d}",
            region="fr-paris",
            zone=f"fr-paris-{i % 2 + 1}",
            sovereign=True,
            capacity=capacity,
        )
        for i in range(count)
    ]


def pod_body(name: str) -> bytes:
    return json.dumps(
        {
            "apiVersion": "v1",
            "kind": "Pod",
            "metadata": {"name": name, "labels": {"app": "bench"}},
            "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
        }
    ).encode()


def wait_for_service_accounts(server: Server, names: list[str], timeout: float = 300) -> None:
    """Until every namespace has its default ServiceAccount, without which the
    ServiceAccount admission plugin refuses pods."""
    wanted = set(names)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = json.loads(
            server.request(
                "GET", "/api/v1/serviceaccounts?fieldSelector=metadata.name%3Ddefault"
            ).data
        )["items"]
        if wanted <= {item["metadata"]["namespace"] for item in listed}:
            return
        time.sleep(1)
    raise SystemExit("the namespaces' default ServiceAccounts did not appear in time")


def create_pods(server: Server, names: list[str], pods: int) -> float:
    """Creates ``pods`` pods, round-robin over the namespaces, CREATORS at a time;
    returns the seconds it took."""
    targets = [(names[i % len(names)], f"pod-{i // len(names):04d}") for i in range(pods)]

    def create(target: tuple[str, str]) -> None:
        namespace, name = target
        for _ in range(5):
            response = server.request(
                "POST", f"/api/v1/namespaces/{namespace}/pods", pod_body(name)
            )
            if response.status in (201, 409):
                return
            if response.status not in (429, 500, 503, 504):
                break
            time.sleep(1)
        raise SystemExit(
            f"creating pod {namespace}/{name} failed: {response.status} {response.data[:300]!r}"
        )

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(CREATORS) as pool:
        list(pool.map(create, targets))
    return time.perf_counter() - start


def pending_pods(server: Server) -> int:
    listed = json.loads(
        server.request("GET", "/api/v1/pods?fieldSelector=status.phase%3DPending").data
    )
    return len(listed["items"])


def wait_running(server: Server, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pending_pods(server) == 0:
            return
        time.sleep(2)
    raise SystemExit(f"{pending_pods(server)} pods are still Pending after {timeout:.0f} s")


def counted_pods(watch: SovereignNamespaceWatch, names: list[str]) -> int:
    return sum(int(watch.statuses.get(name, {}).get("compliantPods") or 0) for name in names)


def pods_on(server: Server, node: str) -> set[str]:
    """The namespaces with pods on ``node``."""
    listed = json.loads(
        server.request("GET", f"/api/v1/pods?fieldSelector=spec.nodeName%3D{node}").data
    )
    return {item["metadata"]["namespace"] for item in listed["items"]}


def label_node(server: Server, node: str, value: str | None) -> None:
    response = server.request(
        "PATCH",
        f"/api/v1/nodes/{node}",
        json.dumps({"metadata": {"labels": {SOVEREIGN_LABEL: value}}}).encode(),
        content_type="application/merge-patch+json",
    )
    if response.status != 200:
        raise SystemExit(f"labelling node {node} failed: {response.status}")


def drift_latencies(
    server: Server, watch: SovereignNamespaceWatch, nodes: list[str], timeout: float
) -> list[tuple[float, float, int]]:
    """For each node: seconds from removing its label until the first and until the last
    SovereignNamespace with pods on it counts them non-compliant, and how many there are."""
    found = []
    for node in nodes:
        affected = pods_on(server, node)
        start = time.monotonic()
        label_node(server, node, None)
        if not watch.wait_for(
            lambda w, affected=affected: affected <= w.non_compliant_since.keys(), timeout
        ):
            with watch.changed:
                seen = len(affected & watch.non_compliant_since.keys())
            raise SystemExit(
                f"after {timeout:.0f} s only {seen} of the {len(affected)} namespaces with "
                f"pods on {node} count them non-compliant"
            )
        with watch.changed:
            times = [watch.non_compliant_since[name] - start for name in affected]
        found.append((min(times), max(times), len(affected)))
        print(
            f"  {node}: {len(affected)} namespaces, first {min(times) * 1000:.0f} ms, "
            f"last {max(times) * 1000:.0f} ms",
            file=sys.stderr,
            flush=True,
        )
        label_node(server, node, "true")
        if not watch.wait_for(
            lambda w, affected=affected: not affected & w.non_compliant_since.keys(), timeout
        ):
            raise SystemExit(f"the namespaces with pods on {node} did not become compliant again")
    return found


class Usage:
    """CPU seconds of each process of the run (the control plane's components, the
    operator, this benchmark) since the last reading: where a phase's time goes."""

    def __init__(self, pids: dict[str, int]) -> None:
        self.pids = dict(pids)
        self.last = dict.fromkeys(self.pids, 0.0)
        self.since()

    def add(self, name: str, pid: int) -> None:
        self.pids[name] = pid
        self.last[name] = process_figures(pid)[2]

    def since(self) -> str:
        now = {name: process_figures(pid)[2] for name, pid in self.pids.items()}
        spent = {name: now[name] - self.last[name] for name in now}
        self.last = now
        return ", ".join(f"{name} {seconds:.1f}" for name, seconds in spent.items())


def verdict(met: bool) -> str:
    return "met" if met else "MISSED"


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--namespaces", type=int, default=1000)
    options.add_argument("--pods", type=int, default=10000)
    options.add_argument("--nodes", type=int, default=50)
    options.add_argument("--samples", type=int, default=5, help="drift samples")
    options.add_argument("--timeout", type=float, default=1800)
    options.add_argument("--operator-log", type=Path, help="keep the operator's log there")
    args = options.parse_args()

    with tempfile.TemporaryDirectory() as folder:
        scratch = Path(folder)
        cluster = DevCluster(scratch / "cluster", nodes=sovereign_nodes(args.nodes, args.pods))
        state = cluster.up(timeout=300)
        operator = None
        watch = None
        try:
            install_crds(cluster.kubeconfig)
            server = Server(state.apiserver_url, cluster.state_dir / "pki")
            size = args.namespaces
            print(
                f"{size} SovereignNamespaces, {args.pods} pods on {args.nodes} kwok nodes",
                flush=True,
            )
            usage = Usage({p.name: p.pid for p in state.processes} | {"benchmark": os.getpid()})
            floor, floor_requests = measure_floor(server, size)
            print(f"Floor: {floor:.2f} s; CPU s: {usage.since()}", flush=True)
            print(f"  requests: {floor_requests}", flush=True)
            operator = start_operator(
                cluster.kubeconfig, args.operator_log or scratch / "operator.log"
            )
            usage.add("operator", operator.pid)
            write(server, "create", PROFILE)
            names = [f"bench-{i:04d}" for i in range(size)]
            counted = request_counts(server)
            elapsed, created, ready = time_to_ready(server, names, args.timeout)
            requests = per_namespace(counted, request_counts(server), size)
            if ready < size:
                raise SystemExit(f"only {ready} of {size} SovereignNamespaces became Ready")
            rss, _, cpu = process_figures(operator.pid)
            print(
                f"Ready: {size} SovereignNamespaces {elapsed:.1f} s after the first create "
                f"(creating took {created:.1f} s), {elapsed / floor:.2f}x the floor of "
                f"{floor:.2f} s; target {READY_TARGET:.0f}x: "
                f"{verdict(elapsed <= READY_TARGET * floor)}",
                flush=True,
            )
            print(f"  operator then: {rss:.0f} MiB resident, {cpu:.1f} CPU s", flush=True)
            print(f"  CPU s: {usage.since()}", flush=True)
            print(f"  requests to Ready: {requests}", flush=True)

            watch = SovereignNamespaceWatch(server).start()
            wait_for_service_accounts(server, names)
            took = create_pods(server, names, args.pods)
            print(
                f"Pods: {args.pods} created in {took:.1f} s ({args.pods / took:.0f}/s, "
                f"{CREATORS} creators)",
                flush=True,
            )
            start = time.monotonic()
            wait_running(server, args.timeout)
            running = time.monotonic() - start
            if not watch.wait_for(lambda w: counted_pods(w, names) >= args.pods, args.timeout):
                raise SystemExit(
                    f"the status counts {counted_pods(watch, names)} of {args.pods} pods"
                )
            counted = time.monotonic() - start
            print(
                f"  all Running {running:.1f} s after the last create; counted compliant "
                f"in status after {counted:.1f} s",
                flush=True,
            )
            time.sleep(10)  # a moment for what the operator does after the counts
            rss, peak, cpu = process_figures(operator.pid)
            print(
                f"Operator with {size} SovereignNamespaces and {args.pods} pods: {rss:.0f} MiB "
                f"resident (peak {peak:.0f} MiB), {cpu:.1f} CPU s since start; target under "
                f"{RESIDENT_TARGET:.0f} MiB: {verdict(rss < RESIDENT_TARGET)} "
                f"(peak: {verdict(peak < RESIDENT_TARGET)})",
                flush=True,
            )
            print(f"  CPU s: {usage.since()}", flush=True)

            nodes = [node.name for node in cluster.nodes][: args.samples]
            samples = drift_latencies(server, watch, nodes, args.timeout)
            firsts = [first for first, _, _ in samples]
            lasts = [last for _, last, _ in samples]
            affected = statistics.median(n for _, _, n in samples)
            print(
                f"Drift: a node loses its label ({len(samples)} samples, median "
                f"{affected:.0f} namespaces with pods on it); first namespace non-compliant "
                f"in status: median {statistics.median(firsts) * 1000:.0f} ms, max "
                f"{max(firsts) * 1000:.0f} ms; last: median "
                f"{statistics.median(lasts) * 1000:.0f} ms, max {max(lasts) * 1000:.0f} ms; "
                f"target under {DRIFT_TARGET:.0f} s: first {verdict(max(firsts) < DRIFT_TARGET)}, "
                f"last {verdict(max(lasts) < DRIFT_TARGET)}",
                flush=True,
            )
            rss, peak, cpu = process_figures(operator.pid)
            print(
                f"  operator after drift: {rss:.0f} MiB resident (peak {peak:.0f} MiB), "
                f"{cpu:.1f} CPU s since start",
                flush=True,
            )
            print(f"  CPU s: {usage.since()}", flush=True)
        finally:
            if watch is not None:
                watch.stop()
            if operator is not None:
                operator.terminate()
                operator.wait(timeout=60)
            cluster.down()


if __name__ == "__main__":
    main()
