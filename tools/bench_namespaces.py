"""How fast SovereignNamespaces become Ready, against the floor of writing what they hold.

For each N (default 1, 100, 500) on a fresh local control plane, two measures:

1. The floor: a bare client writes, for N namespaces ``floor-*``, the objects the
   operator writes for a SovereignNamespace of this benchmark (the Namespace, its five
   NetworkPolicies, the owners' and the probe's RoleBindings and the first record of its
   violation history, a ConfigMap), with the operator's verbs (server-side apply, and a create
   for the ConfigMap) and its concurrency: 16 namespaces at a time, as kopf runs 16
   handlers. It writes no status: there is no SovereignNamespace to report on. Then
   the namespaces are deleted, and their deletion waited for.
2. souverain: the operator starts, N SovereignNamespaces bound to one profile are
   created, and a watch times when each first reports Ready=True. Ready comes once the
   API server has refused each layer's escape (dry runs the floor does not send).

It prints souverain's time to Ready, its ratio to the floor, the operator's resident
memory and CPU seconds, and the requests the API server served per namespace in each
phase, by verb and resource (from its ``apiserver_request_total``; the souverain phase
includes the benchmark's own create and watch).
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
import uuid
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import urllib3
from bench_placement import Server, install_crds  # beside this script

from souverain.api import SovereignNamespace, SovereigntyProfileSpec
from souverain.devcluster.cluster import DevCluster, free_port
from souverain.handlers.history import config_map
from souverain.history.chain import History
from souverain.history.record import everything, observe
from souverain.kinds import KINDS
from souverain.kubeapi import FIELD_MANAGER
from souverain.reconcile.namespace import Capabilities, plan_namespace

REPO = Path(__file__).resolve().parents[1]
GROUP, VERSION = "souverain.io", "v1alpha1"
SOVEREIGN_NAMESPACES = f"/apis/{GROUP}/{VERSION}/sovereignnamespaces"
FLOOR_CONCURRENCY = 16
"""The operator's concurrency: kopf's ``settings.execution.max_workers`` (see
``souverain.handlers.lifecycle.configure``), the threads its handlers run on."""
CREATORS = 8
"""Clients creating the SovereignNamespaces at once."""
FLOOR_HISTORY = "floor-history"
"""Where the floor writes its history ConfigMaps, as the operator writes them in its own
namespace."""

PROFILE = {
    "apiVersion": f"{GROUP}/{VERSION}",
    "kind": "SovereigntyProfile",
    "metadata": {"name": "bench"},
    "spec": {
        "nodeRequirements": [
            {
                "key": "node-restriction.kubernetes.io/french-sovereign",
                "operator": "In",
                "values": ["true"],
            }
        ],
        "egress": {"cidrs": [{"cidr": "10.0.0.0/8", "ports": [{"port": 443}]}]},
    },
}


def sovereign_namespace(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SovereignNamespace",
        "metadata": {"name": name},
        "spec": {
            "profileName": "bench",
            "owners": [{"kind": "Group", "name": f"{name}-team"}],
            "egress": {"cidrs": [{"cidr": "10.1.0.0/16", "ports": [{"port": 443}]}]},
        },
    }


# -- the floor -------------------------------------------------------------------


def floor_writes(name: str) -> list[tuple[str, dict[str, Any]]]:
    """The writes the operator makes for the SovereignNamespace ``name``, as ("apply" or
    "create", object), planned by the operator's own pure parts. The children carry no
    owner reference: no SovereignNamespace owns them, and the garbage collector would
    delete them meanwhile."""
    body = sovereign_namespace(name)
    body["metadata"] = {"name": name, "uid": str(uuid.uuid4()), "generation": 1}
    profile = SovereigntyProfileSpec.model_validate(PROFILE["spec"])
    plan = plan_namespace(SovereignNamespace.model_validate(body), profile, None, Capabilities())
    assert plan.namespace is not None
    children = [
        {
            **child,
            "metadata": {k: v for k, v in child["metadata"].items() if k != "ownerReferences"},
        }
        for child in [*plan.children, *([plan.owners] if plan.owners else [])]
    ]
    now = datetime.now(UTC).replace(microsecond=0)
    history, _ = observe(
        History.from_data(None), None, [], everything, now, "floor", first_in_term=True
    )
    record = config_map(name, history, None)
    record["metadata"]["namespace"] = FLOOR_HISTORY
    return [
        ("apply", plan.namespace),
        *(("apply", child) for child in children),
        ("create", record),
    ]


def write(server: Server, verb: str, obj: dict[str, Any]) -> None:
    metadata = obj["metadata"]
    kind = KINDS[obj["kind"]]
    if verb == "apply":
        path = kind.path(metadata["name"], metadata.get("namespace"))
        response = server.request(
            "PATCH",
            f"{path}?fieldManager={FIELD_MANAGER}&force=true",
            json.dumps(obj).encode(),
            content_type="application/apply-patch+yaml",
        )
    else:
        path = kind.path(namespace=metadata.get("namespace"))
        response = server.request(
            "POST", f"{path}?fieldManager={FIELD_MANAGER}", json.dumps(obj).encode()
        )
    if response.status not in (200, 201):
        raise SystemExit(f"{verb} {path} failed: {response.status} {response.data[:300]!r}")


def write_floor(server: Server, names: list[str]) -> float:
    """Seconds to write every namespace's objects, FLOOR_CONCURRENCY namespaces at a
    time, each namespace's objects in order (the Namespace first)."""
    write(
        server,
        "apply",
        {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": FLOOR_HISTORY}},
    )
    planned = [floor_writes(name) for name in names]  # planned before the clock starts

    def one(writes: list[tuple[str, dict[str, Any]]]) -> None:
        for verb, obj in writes:
            write(server, verb, obj)

    start = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(FLOOR_CONCURRENCY) as pool:
        list(pool.map(one, planned))
    return time.perf_counter() - start


def delete_namespaces(server: Server, names: list[str], timeout: float = 900) -> None:
    """Deletes the namespaces and waits until they are gone (the namespace controller
    empties them first)."""
    with concurrent.futures.ThreadPoolExecutor(FLOOR_CONCURRENCY) as pool:
        list(pool.map(lambda n: server.request("DELETE", f"/api/v1/namespaces/{n}"), names))
    wanted = set(names)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        listed = json.loads(server.request("GET", "/api/v1/namespaces").data)["items"]
        if not wanted & {item["metadata"]["name"] for item in listed}:
            return
        time.sleep(1)
    raise SystemExit(f"the namespaces were not deleted within {timeout:.0f} s")


def measure_floor(server: Server, size: int) -> tuple[float, str]:
    """The floor for ``size`` namespaces, whose objects are then deleted, and the
    requests per namespace while they were written (the controllers' included)."""
    names = [f"floor-{size}-{i:04d}" for i in range(size)]
    counted = request_counts(server)
    elapsed = write_floor(server, names)
    requests = per_namespace(counted, request_counts(server), size)
    delete_namespaces(server, [*names, FLOOR_HISTORY])
    return elapsed, requests


def request_counts(server: Server) -> Counter[str]:
    """The API server's requests so far, by verb, resource and subresource (watches and
    the metrics reads themselves left out)."""
    counts: Counter[str] = Counter()
    text = server.request("GET", "/metrics").data.decode()
    for line in text.splitlines():
        if not line.startswith("apiserver_request_total{"):
            continue
        labels_text, _, value = line.rpartition(" ")
        inside = labels_text[len("apiserver_request_total{") : -1]
        found = {k: v.strip('"') for k, _, v in (p.partition("=") for p in inside.split(","))}
        if found.get("verb") == "WATCH" or not found.get("resource"):
            continue
        key = f"{found['verb']} {found['resource']}" + (
            f"/{found['subresource']}" if found.get("subresource") else ""
        )
        counts[key] += int(float(value))
    return counts


def per_namespace(before: Counter[str], after: Counter[str], size: int) -> str:
    """Requests per namespace between two counts, most frequent first."""
    diff = {k: after[k] - before.get(k, 0) for k in after}
    kept = sorted(((v, k) for k, v in diff.items() if v / size >= 0.05), reverse=True)
    total = sum(v for v, _ in kept) / size
    return f"{total:.1f} per namespace: " + ", ".join(f"{k} {v / size:.1f}" for v, k in kept)


# -- souverain -------------------------------------------------------------------


class SovereignNamespaceWatch:
    """The SovereignNamespaces' status as a watch last showed it, and when (monotonic
    seconds) each first reported Ready=True and began to count non-compliant pods: a
    time per event, rather than a list every so often."""

    def __init__(self, server: Server) -> None:
        self.server = server
        self.statuses: dict[str, dict[str, Any]] = {}
        self.ready_at: dict[str, float] = {}
        self.non_compliant_since: dict[str, float] = {}
        self.changed = threading.Condition()
        self._stopped = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bench-watch", daemon=True)

    def start(self) -> SovereignNamespaceWatch:
        self._version = self._list()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopped.set()

    def wait_for(
        self, predicate: Callable[[SovereignNamespaceWatch], bool], timeout: float
    ) -> bool:
        with self.changed:
            return self.changed.wait_for(lambda: predicate(self), timeout)

    def _list(self) -> str:
        listed = json.loads(self.server.request("GET", SOVEREIGN_NAMESPACES).data)
        now = time.monotonic()
        for item in listed["items"]:
            self._seen("ADDED", item, now)
        return str(listed["metadata"]["resourceVersion"])

    def _seen(self, kind: str, obj: dict[str, Any], when: float) -> None:
        name = obj["metadata"]["name"]
        status = obj.get("status") or {}
        with self.changed:
            if kind == "DELETED":
                self.statuses.pop(name, None)
            else:
                self.statuses[name] = status
            if name not in self.ready_at and any(
                c.get("type") == "Ready" and c.get("status") == "True"
                for c in status.get("conditions") or []
            ):
                self.ready_at[name] = when
            if int(status.get("nonCompliantPods") or 0) > 0:
                self.non_compliant_since.setdefault(name, when)
            else:
                self.non_compliant_since.pop(name, None)
            self.changed.notify_all()

    def _run(self) -> None:
        while not self._stopped.is_set():
            try:
                response = self.server.pool.request(
                    "GET",
                    f"{self.server.url}{SOVEREIGN_NAMESPACES}?watch=1&allowWatchBookmarks=true"
                    f"&timeoutSeconds=60&resourceVersion={self._version}",
                    preload_content=False,
                    timeout=urllib3.Timeout(connect=5, read=90),
                )
                for line in response:
                    if self._stopped.is_set():
                        return
                    if not line.strip():
                        continue
                    event = json.loads(line)
                    if event["type"] == "ERROR":  # 410 Gone: list again
                        self._version = self._list()
                        break
                    self._version = event["object"]["metadata"]["resourceVersion"]
                    if event["type"] != "BOOKMARK":
                        self._seen(event["type"], event["object"], time.monotonic())
                response.release_conn()
            except Exception:
                if self._stopped.is_set():
                    return
                time.sleep(0.2)
                try:
                    self._version = self._list()
                except Exception:
                    time.sleep(1)


def start_operator(kubeconfig: Path, log_path: Path) -> subprocess.Popen[bytes]:
    """``souverain run`` (no metrics), once its /healthz answers."""
    liveness = free_port()
    with open(log_path, "wb") as log:
        operator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "souverain",
                "run",
                f"--liveness=127.0.0.1:{liveness}",
                "--metrics=",
            ],
            env={**os.environ, "KUBECONFIG": str(kubeconfig)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{liveness}/healthz", timeout=1):
                return operator
        except OSError:
            time.sleep(0.2)
    operator.terminate()
    raise SystemExit(f"the operator did not start; see {log_path}")


def create_sovereign_namespaces(server: Server, names: list[str]) -> None:
    def create(name: str) -> None:
        response = server.request(
            "POST", SOVEREIGN_NAMESPACES, json.dumps(sovereign_namespace(name)).encode()
        )
        if response.status != 201:
            raise SystemExit(f"creating {name} failed: {response.status} {response.data[:300]!r}")

    with concurrent.futures.ThreadPoolExecutor(CREATORS) as pool:
        list(pool.map(create, names))


def time_to_ready(server: Server, names: list[str], timeout: float) -> tuple[float, float, int]:
    """Creates the SovereignNamespaces; seconds from the first create until the last
    reports Ready (or the timeout), seconds the creates took, and how many are Ready."""
    watch = SovereignNamespaceWatch(server).start()
    try:
        start = time.monotonic()
        create_sovereign_namespaces(server, names)
        created = time.monotonic() - start
        wanted = set(names)
        watch.wait_for(lambda w: wanted <= w.ready_at.keys(), timeout)
        with watch.changed:
            ready = [watch.ready_at[n] for n in names if n in watch.ready_at]
        elapsed = (max(ready) if len(ready) == len(names) else time.monotonic()) - start
        return elapsed, created, len(ready)
    finally:
        watch.stop()


def process_figures(pid: int) -> tuple[float, float, float]:
    """Resident MiB, peak resident MiB and CPU seconds of a process."""
    found: dict[str, float] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = int(value.split()[0]) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return found["VmRSS"], found["VmHWM"], (int(fields[11]) + int(fields[12])) / ticks


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("sizes", nargs="*", type=int, default=[1, 100, 500])
    options.add_argument("--timeout", type=float, default=600)
    args = options.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            cluster = DevCluster(Path(scratch) / f"n{size}")
            state = cluster.up()
            operator = None
            try:
                install_crds(cluster.kubeconfig)
                server = Server(state.apiserver_url, cluster.state_dir / "pki")
                floor, floor_requests = measure_floor(server, size)
                operator = start_operator(
                    cluster.kubeconfig, Path(scratch) / f"operator-{size}.log"
                )
                write(server, "create", PROFILE)
                names = [f"bench-{size}-{i:04d}" for i in range(size)]
                counted = request_counts(server)
                elapsed, created, ready = time_to_ready(server, names, args.timeout)
                rss, _, cpu = process_figures(operator.pid)
                requests = per_namespace(counted, request_counts(server), size)
                verdict = "all Ready" if ready == size else f"only {ready} Ready (timed out)"
                print(
                    f"N={size:4d}: {verdict} {elapsed:6.1f} s after the first create "
                    f"(creating took {created:.1f} s), {elapsed / floor:.1f}x the floor of "
                    f"{floor:.2f} s; operator {rss:.0f} MiB resident, "
                    f"{cpu:.1f} CPU s since start",
                    flush=True,
                )
                print(f"  floor requests: {floor_requests}", flush=True)
                print(f"  souverain requests to Ready: {requests}", flush=True)
            finally:
                if operator is not None:
                    operator.terminate()
                    operator.wait(timeout=60)
                cluster.down()


if __name__ == "__main__":
    main()
