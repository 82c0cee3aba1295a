"""How long the operator is away when its active replica goes: the chaos benchmark.

On a fresh local control plane, two replicas of ``souverain run`` elect the active one
through a Lease, as the Helm chart runs them (native admission only: on loopback both
replicas cannot sit behind one webhook Service). Each round kills the Lease holder, with
SIGKILL (a crash) or SIGTERM (a rolling update), creates a SovereignNamespace at once,
and times how long until it is Ready, which only an active replica can make it. The
killed replica is started again as the new standby before the next round.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from bench_namespaces import PROFILE  # the same profile, beside this script
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain.devcluster.binaries import bin_dir
from souverain.devcluster.cluster import DevCluster, free_port

REPO = Path(__file__).resolve().parents[1]
GROUP, VERSION = "souverain.io", "v1alpha1"
LEASE_NAMESPACE, LEASE = "souverain-system", "souverain"


def tenant(name: str) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SovereignNamespace",
        "metadata": {"name": name},
        "spec": {"profileName": "bench", "owners": [{"kind": "Group", "name": f"{name}-team"}]},
    }


def is_ready(item: dict[str, Any] | None) -> bool:
    return item is not None and any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (item.get("status") or {}).get("conditions", [])
    )


class Replica:
    """One ``souverain run`` holding or waiting for the Lease."""

    def __init__(self, name: str, kubeconfig: Path, logs: Path, lease_seconds: float) -> None:
        self.name, self.kubeconfig, self.logs = name, kubeconfig, logs
        self.lease_seconds = lease_seconds
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        log = open(self.logs / f"{self.name}-{self.starts}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "souverain",
                "run",
                f"--liveness=127.0.0.1:{self.port}",
                "--metrics=",
                f"--lease={LEASE_NAMESPACE}/{LEASE}",
                f"--identity={self.name}",
                f"--lease-seconds={self.lease_seconds}",
                "--admission-layers=native",
                "--log-format=json",
            ],
            env={**os.environ, "KUBECONFIG": str(self.kubeconfig)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()

    def state(self) -> dict[str, Any] | None:
        try:
            url = f"http://127.0.0.1:{self.port}/readyz"
            with urllib.request.urlopen(url, timeout=1) as response:
                found: dict[str, Any] = json.loads(response.read())
                return found
        except OSError:
            return None

    def wait_ready(self, timeout: float = 90) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.state() is not None:
                return
            time.sleep(0.2)
        raise RuntimeError(f"replica {self.name} did not become ready")

    def signal(self, signum: signal.Signals) -> None:
        assert self.process is not None
        self.process.send_signal(signum)

    def wait_gone(self) -> None:
        if self.process is not None:
            self.process.wait(timeout=60)
            self.process = None


def holder(coordination: Any) -> str | None:
    try:
        lease = coordination.read_namespaced_lease(LEASE, LEASE_NAMESPACE)
    except ApiException as error:
        if error.status == 404:
            return None
        raise
    found: str | None = lease.spec.holder_identity
    return found


def wait_until(probe: Any, what: str, timeout: float = 120, interval: float = 0.05) -> float:
    """Seconds until ``probe()`` is true."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if probe():
            return time.monotonic() - start
        time.sleep(interval)
    raise RuntimeError(f"timed out waiting for {what}")


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--rounds", type=int, default=3, help="rounds per signal")
    options.add_argument("--tenants", type=int, default=20, help="SovereignNamespaces beforehand")
    options.add_argument("--lease-seconds", type=float, default=10.0)
    options.add_argument("--logs", type=Path, help="keep the replicas' logs in this folder")
    args = options.parse_args()
    kubectl = str(bin_dir() / "kubectl")
    figures: dict[str, list[tuple[float, float]]] = {"SIGKILL": [], "SIGTERM": []}

    with tempfile.TemporaryDirectory() as scratch:
        cluster = DevCluster(Path(scratch) / "cluster")
        cluster.up()
        replicas: list[Replica] = []
        try:
            env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
            for command in (
                ["apply", "--server-side", "-f", str(REPO / "crds")],
                ["wait", "--for=condition=Established", "-f", str(REPO / "crds")],
                ["create", "namespace", LEASE_NAMESPACE],
            ):
                subprocess.run([kubectl, *command], env=env, check=True, stdout=subprocess.DEVNULL)
            logs = args.logs or Path(scratch)
            logs.mkdir(parents=True, exist_ok=True)
            replicas = [
                Replica(name, cluster.kubeconfig, logs, args.lease_seconds)
                for name in ("replica-a", "replica-b")
            ]
            with cluster.api_client() as api:
                objects = client.CustomObjectsApi(api)
                coordination = client.CoordinationV1Api(api)
                replicas[0].start()
                replicas[0].wait_ready()
                wait_until(lambda: holder(coordination) == "replica-a", "replica-a to lead")
                replicas[1].start()
                replicas[1].wait_ready()
                objects.create_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", PROFILE)
                for index in range(args.tenants):
                    objects.create_cluster_custom_object(
                        GROUP, VERSION, "sovereignnamespaces", tenant(f"steady-{index:03d}")
                    )

                def all_ready() -> bool:
                    listed = objects.list_cluster_custom_object(
                        GROUP, VERSION, "sovereignnamespaces"
                    )["items"]
                    return len(listed) == args.tenants and all(is_ready(i) for i in listed)

                wait_until(all_ready, "the steady tenants to be Ready", timeout=300)
                rounds = [signal.SIGKILL, signal.SIGTERM] * args.rounds
                for number, signum in enumerate(rounds):
                    active_name = holder(coordination)
                    active = next(r for r in replicas if r.name == active_name)
                    standby = next(r for r in replicas if r is not active)
                    name = f"failover-{number:02d}"
                    started = time.monotonic()
                    active.signal(signum)
                    objects.create_cluster_custom_object(
                        GROUP, VERSION, "sovereignnamespaces", tenant(name)
                    )
                    taken = None

                    def ready(
                        sns: str = name, taker: str = standby.name, since: float = started
                    ) -> bool:
                        nonlocal taken
                        if taken is None and holder(coordination) == taker:
                            taken = time.monotonic() - since
                        return is_ready(
                            objects.get_cluster_custom_object(
                                GROUP, VERSION, "sovereignnamespaces", sns
                            )
                        )

                    wait_until(ready, f"{name} to be Ready", interval=0.02)
                    elapsed = time.monotonic() - started
                    lease_taken = taken if taken is not None else elapsed
                    figures[signum.name].append((lease_taken, elapsed))
                    print(
                        f"{signum.name} of {active.name}: Lease taken by {standby.name} after "
                        f"{lease_taken:5.2f} s; new SovereignNamespace Ready after "
                        f"{elapsed:5.2f} s",
                        flush=True,
                    )
                    active.wait_gone()
                    active.start()
                    active.wait_ready()
            for name, found in figures.items():
                times = [ready for _, ready in found]
                print(
                    f"{name}: Ready after failover median {statistics.median(times):.2f} s, "
                    f"max {max(times):.2f} s over {len(times)} rounds "
                    f"(Lease {args.lease_seconds:.0f} s, {args.tenants} tenants)",
                    flush=True,
                )
        finally:
            for replica in replicas:
                if replica.process is not None:
                    replica.process.kill()
                    replica.process.wait(timeout=30)
            cluster.down()


if __name__ == "__main__":
    main()
