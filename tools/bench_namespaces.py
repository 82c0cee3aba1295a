"""How fast SovereignNamespaces become Ready, and what the operator costs doing it.

For each N (default 1, 100, 500) on a fresh local control plane: create N
SovereignNamespaces bound to one profile, time until every one reports Ready=True,
then print the operator's resident memory and CPU seconds.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from kubernetes import client

from souverain.devcluster.binaries import bin_dir
from souverain.devcluster.cluster import DevCluster, free_port

REPO = Path(__file__).resolve().parents[1]
GROUP, VERSION = "souverain.io", "v1alpha1"

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


def ready_count(objects: Any, prefix: str) -> int:
    listed = objects.list_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces")
    return sum(
        1
        for item in listed["items"]
        if item["metadata"]["name"].startswith(prefix)
        and any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in (item.get("status") or {}).get("conditions", [])
        )
    )


def process_figures(pid: int) -> tuple[float, float]:
    """Resident MiB and CPU seconds of a process."""
    rss = 0.0
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            rss = int(line.split()[1]) / 1024
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(") ", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return rss, (int(fields[11]) + int(fields[12])) / ticks


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("sizes", nargs="*", type=int, default=[1, 100, 500])
    options.add_argument("--timeout", type=float, default=600)
    args = options.parse_args()
    kubectl = str(bin_dir() / "kubectl")

    with tempfile.TemporaryDirectory() as scratch:
        for size in args.sizes:
            cluster = DevCluster(Path(scratch) / f"n{size}")
            cluster.up()
            operator = None
            try:
                env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
                subprocess.run(
                    [kubectl, "apply", "--server-side", "-f", str(REPO / "crds")],
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                subprocess.run(
                    [kubectl, "wait", "--for=condition=Established", "-f", str(REPO / "crds")],
                    env=env,
                    check=True,
                    stdout=subprocess.DEVNULL,
                )
                liveness = free_port()
                log = open(Path(scratch) / f"operator-{size}.log", "wb")  # noqa: SIM115
                operator = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "souverain",
                        "run",
                        f"--liveness=127.0.0.1:{liveness}",
                        "--metrics=",
                    ],
                    env=env,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
                deadline = time.monotonic() + 60
                while time.monotonic() < deadline:
                    try:
                        with urllib.request.urlopen(
                            f"http://127.0.0.1:{liveness}/healthz", timeout=1
                        ):
                            break
                    except OSError:
                        time.sleep(0.2)
                with cluster.api_client() as api:
                    objects = client.CustomObjectsApi(api)
                    objects.create_cluster_custom_object(
                        GROUP, VERSION, "sovereigntyprofiles", PROFILE
                    )
                    start = time.monotonic()
                    names = [f"bench-{size}-{i:04d}" for i in range(size)]
                    with concurrent.futures.ThreadPoolExecutor(8) as pool:
                        list(
                            pool.map(
                                lambda n: objects.create_cluster_custom_object(
                                    GROUP, VERSION, "sovereignnamespaces", sovereign_namespace(n)
                                ),
                                names,
                            )
                        )
                    created = time.monotonic() - start
                    ready = 0
                    while time.monotonic() - start < args.timeout:
                        ready = ready_count(objects, f"bench-{size}-")
                        if ready == size:
                            break
                        time.sleep(0.5)
                    elapsed = time.monotonic() - start
                rss, cpu = process_figures(operator.pid)
                verdict = "all Ready" if ready == size else f"only {ready} Ready (timed out)"
                print(
                    f"N={size:4d}: {verdict} {elapsed:6.1f} s after the first create "
                    f"(creating took {created:.1f} s); operator {rss:.0f} MiB resident, "
                    f"{cpu:.1f} CPU s since start",
                    flush=True,
                )
            finally:
                if operator is not None:
                    operator.terminate()
                    operator.wait(timeout=60)
                cluster.down()


if __name__ == "__main__":
    main()
