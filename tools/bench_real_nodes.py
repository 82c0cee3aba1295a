"""The operator as users run it, timed: the image, a cluster with real nodes, the chart.

Prints the operator image's size and the time of `make image` (warm; `--cold` also builds
it once in an empty buildah storage of its own, base included), the time until a local
control plane with two real nodes is Ready, the time `helm install --wait` takes with
default values, and the chart's failover: each round deletes the active operator pod
(`kubectl delete pod`, graceful, then with `--grace-period=0 --force`), and times until
the other pod holds the Lease and until a SovereignNamespace made at once is Ready.
Needs what the real-node tests need (`make real-nodes`).
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from souverain.devcluster import hostnet
from souverain.devcluster.binaries import bin_dir
from souverain.devcluster.cluster import DevCluster
from souverain.devcluster.realnodes import default_image_archives

REPO = Path(__file__).resolve().parents[1]
ARCHIVE = REPO / "build" / "images" / "souverain.tar"
NAMESPACE, RELEASE = "souverain-system", "souverain"


def timed(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.monotonic()
    subprocess.run(argv, check=True, capture_output=True, env=env, cwd=REPO)
    return time.monotonic() - started


def cold_image_build() -> float:
    """`make image` into an empty storage of its own: the Debian base and every layer."""
    with tempfile.TemporaryDirectory(prefix="souverain-cold-") as scratch:
        conf = Path(scratch) / "storage.conf"
        conf.write_text(
            f'[storage]\ndriver = "overlay"\ngraphroot = "{scratch}/graph"\n'
            f'runroot = "{scratch}/run"\n'
        )
        env = {
            **os.environ,
            "CONTAINERS_STORAGE_CONF": str(conf),
            "IMAGE_ARCHIVE": f"{scratch}/image.tar",
        }
        took = timed([str(REPO / "tools" / "image" / "build.sh")], env)
        subprocess.run(["buildah", "rm", "--all"], env=env, capture_output=True, check=False)
        return took


def wait(condition: Callable[[], bool], what: str, timeout: float = 180.0) -> float:
    """Seconds until ``condition`` holds."""
    started = time.monotonic()
    while time.monotonic() - started < timeout:
        if condition():
            return time.monotonic() - started
        time.sleep(0.1)
    raise SystemExit(f"timed out waiting for {what}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=3, help="failover rounds of each kind")
    parser.add_argument("--cold", action="store_true", help="also time a cold image build")
    args = parser.parse_args()
    problems = hostnet.preflight()
    if problems:
        print(f"real nodes cannot run on this machine: {'; '.join(problems)}", file=sys.stderr)
        return 1
    figures: dict[str, object] = {}
    if args.cold:
        figures["imageBuildColdSeconds"] = round(cold_image_build(), 1)
    figures["imageBuildWarmSeconds"] = round(timed([str(REPO / "tools" / "image" / "build.sh")]), 1)
    figures["imageArchiveMB"] = round(ARCHIVE.stat().st_size / 1e6, 1)
    kubectl, helm = str(bin_dir() / "kubectl"), str(bin_dir() / "helm")

    with tempfile.TemporaryDirectory(prefix="souverain-bench-real-") as scratch:
        dev = DevCluster(Path(scratch) / "cluster", real_nodes=2, images=default_image_archives())
        started = time.monotonic()
        dev.up()
        try:
            figures["clusterReadySeconds"] = round(time.monotonic() - started, 1)
            env = {**os.environ, "KUBECONFIG": str(dev.kubeconfig)}
            env["HELM_CACHE_HOME"] = env["HELM_CONFIG_HOME"] = env["HELM_DATA_HOME"] = scratch

            def run(*argv: str) -> str:
                return subprocess.run(
                    argv, check=True, capture_output=True, text=True, env=env
                ).stdout

            figures["helmInstallWaitSeconds"] = round(
                timed(
                    [helm, "install", RELEASE, str(REPO / "helm" / "souverain"), "-n", NAMESPACE,
                     "--create-namespace", "--wait", "--timeout", "5m"],
                    env,
                ),
                1,
            )  # fmt: skip

            def holder() -> str:
                lease = run(kubectl, "get", "lease", RELEASE, "-n", NAMESPACE, "-o", "json")
                return str(json.loads(lease)["spec"].get("holderIdentity") or "")

            def taken_from(active: str) -> bool:
                return holder() not in ("", active)

            def ready(name: str) -> bool:
                found = run(kubectl, "get", "sovereignnamespace", name, "-o", "json")
                conditions = json.loads(found).get("status", {}).get("conditions", [])
                return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

            for kind, extra in (("delete", []), ("force", ["--grace-period=0", "--force"])):
                leases, readies = [], []
                for number in range(args.rounds):
                    run(kubectl, "rollout", "status", "deployment", RELEASE, "-n", NAMESPACE)
                    active = holder()
                    started = time.monotonic()
                    run(kubectl, "delete", "pod", active, "-n", NAMESPACE, "--wait=false", *extra)
                    leases.append(wait(functools.partial(taken_from, active), "the Lease"))
                    name = f"bench-{kind}-{number}"
                    subprocess.run(
                        [kubectl, "apply", "-f", "-"],
                        input=json.dumps(
                            {
                                "apiVersion": "souverain.io/v1alpha1",
                                "kind": "SovereignNamespace",
                                "metadata": {"name": name},
                                "spec": {"profileName": "french-sovereign"},
                            }
                        ),
                        text=True,
                        check=True,
                        capture_output=True,
                        env=env,
                    )
                    wait(functools.partial(ready, name), f"{name} to be Ready")
                    readies.append(time.monotonic() - started)
                figures[f"failover-{kind}"] = {
                    "leaseTakenSeconds": [round(x, 2) for x in leases],
                    "namespaceReadySeconds": [round(x, 2) for x in readies],
                    "medianReadySeconds": round(statistics.median(readies), 2),
                }
        finally:
            started = time.monotonic()
            dev.down()
            figures["downSeconds"] = round(time.monotonic() - started, 1)
    print(json.dumps(figures, indent=2))
    return 0


if __name__ == "__main__":
    if not shutil.which("kubectl", path=str(bin_dir())):
        sys.exit("souverain: kubectl is not built: run make binaries")
    sys.exit(main())
