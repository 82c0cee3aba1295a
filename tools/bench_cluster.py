"""Figures of the local control plane: build time, start-up time, idle memory.

    python tools/bench_cluster.py            warm build check, start-up, memory
    python tools/bench_cluster.py --cold     also a cold build into a scratch cache

The cold build uses an empty Go build cache and an empty binary folder, so it
measures what a fresh machine pays once; it takes several minutes.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from souverain.devcluster.cluster import DevCluster

REPO = Path(__file__).resolve().parents[1]
BUILD = REPO / "tools" / "kube" / "build.sh"


def timed_build(env: dict[str, str]) -> float:
    start = time.monotonic()
    subprocess.run([str(BUILD)], env=env, check=True, stdout=subprocess.DEVNULL)
    return time.monotonic() - start


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def main() -> None:
    options = argparse.ArgumentParser(description=__doc__)
    options.add_argument("--cold", action="store_true", help="also measure a cold build")
    options.add_argument("--starts", type=int, default=3, help="control-plane starts to time")
    options.add_argument("--idle-seconds", type=float, default=15.0)
    args = options.parse_args()

    print(f"machine: {os.cpu_count()} cores")
    if args.cold:
        with tempfile.TemporaryDirectory() as scratch:
            env = {
                **os.environ,
                "GOCACHE": f"{scratch}/go-build",
                "SOUVERAIN_KUBE_BIN": f"{scratch}/bin",
            }
            print(
                f"cold build (empty Go build cache, modules already downloaded): "
                f"{timed_build(env):.0f} s"
            )
    warm = [timed_build(dict(os.environ)) for _ in range(3)]
    print(f"warm build check (everything cached): median {statistics.median(warm):.2f} s")

    phases: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory() as scratch:
        for run in range(args.starts):
            cluster = DevCluster(Path(scratch) / f"start-{run}")
            try:
                state = cluster.up()
                for phase, seconds in cluster.timings.items():
                    phases.setdefault(phase, []).append(seconds)
                if run == args.starts - 1:
                    time.sleep(args.idle_seconds)
                    print(f"resident memory after {args.idle_seconds:.0f} s idle:")
                    total = 0.0
                    for process in state.processes:
                        mib = rss_mib(process.pid)
                        total += mib
                        print(f"  {process.name:<24} {mib:7.1f} MiB")
                    print(f"  {'total':<24} {total:7.1f} MiB")
            finally:
                cluster.down()
    for phase, values in phases.items():
        print(
            f"start to {phase}: median {statistics.median(values):.2f} s "
            f"(min {min(values):.2f}, max {max(values):.2f}, {len(values)} starts)"
        )


if __name__ == "__main__":
    main()
