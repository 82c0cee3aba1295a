"""A local control plane with real nodes for the tests that run the operator as users run
it: the image built from the Dockerfile, real kubelets and containerd, ``helm install``.

Where the machine cannot run real nodes (no root, no containerd...), the tests skip with
the preflight's own words. Where it can, a missing binary or image is built here, as
``make test`` would have built it, so that a test never runs against a stale image.
"""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

import pytest

from souverain.devcluster import hostnet
from tests.support.repository import REPO

OPERATOR_ARCHIVE = REPO / "build" / "images" / "souverain.tar"
BUSYBOX = "localhost/souverain/busybox:1"
"""The image of the tests' own pods on real nodes (busybox from Debian's busybox-static)."""
SOURCES = ("Dockerfile", "pyproject.toml", "README.md", "operator")


def skip_unless_real_nodes_run_here() -> None:
    """Skips, naming what is missing, where this machine cannot run real nodes."""
    problems = hostnet.preflight()
    if problems:
        pytest.skip(f"real nodes cannot run on this machine: {'; '.join(problems)}")


def _newest_source() -> float:
    newest = 0.0
    for name in SOURCES:
        path = REPO / name
        files = path.rglob("*") if path.is_dir() else [path]
        for found in files:
            if found.is_file() and "__pycache__" not in found.parts:
                newest = max(newest, found.stat().st_mtime)
    return newest


def image_archives() -> list[Path]:
    """The node images (pause, busybox) and the operator image, built when missing or,
    for the operator, older than its sources."""
    built = subprocess.run(
        [str(REPO / "tools" / "kube" / "build.sh"), "kubelet", "kube-proxy"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stderr
    listed = subprocess.run(
        [str(REPO / "tools" / "image" / "node-images.sh")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert listed.returncode == 0, listed.stderr
    archives = [Path(line.split("=", 1)[1]) for line in listed.stdout.splitlines() if "=" in line]
    if not OPERATOR_ARCHIVE.exists() or OPERATOR_ARCHIVE.stat().st_mtime < _newest_source():
        image = subprocess.run(
            [str(REPO / "tools" / "image" / "build.sh")],
            capture_output=True,
            text=True,
            check=False,
            timeout=1800,
        )
        assert image.returncode == 0, f"make image failed:\n{image.stdout}\n{image.stderr}"
    return [*archives, OPERATOR_ARCHIVE]


def busybox_pod(name: str, command: str, **spec: Any) -> dict[str, Any]:
    """A pod of the busybox image that runs ``command`` with sh."""
    return {
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "terminationGracePeriodSeconds": 1,
            "containers": [{"name": "main", "image": BUSYBOX, "command": ["sh", "-c", command]}],
            **spec,
        },
    }


def phase_of(core: Any, namespace: str, name: str) -> str:
    pod = core.read_namespaced_pod(name, namespace)
    return str(pod.status.phase or "")
