"""The Helm chart, run through the helm binary the repository builds."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from souverain.devcluster.binaries import bin_dir
from tests.support.repository import REPO

CHART = REPO / "helm" / "souverain"
KUBE_VERSION = "1.37.2"
NAMESPACE = "souverain-system"
"""The namespace the chart is rendered and installed in."""


def helm(*args: str, kubeconfig: Path | None = None, check: bool = True) -> str:
    """Runs helm; returns its standard output, or fails with its standard error."""
    binary = shutil.which("helm", path=f"{bin_dir()}:{os.environ.get('PATH', '')}")
    assert binary, "helm is not built: run 'make binaries'"
    env = {**os.environ, "HELM_CACHE_HOME": "/tmp/souverain-helm/cache"}
    env["HELM_CONFIG_HOME"] = "/tmp/souverain-helm/config"
    env["HELM_DATA_HOME"] = "/tmp/souverain-helm/data"
    if kubeconfig is not None:
        env["KUBECONFIG"] = str(kubeconfig)
    result = subprocess.run(
        [binary, *args], capture_output=True, text=True, env=env, timeout=300, check=False
    )
    if check:
        assert result.returncode == 0, f"helm {' '.join(args)} failed:\n{result.stderr}"
    return result.stdout if check else result.stdout + result.stderr


def render(*values: str, chart: Path = CHART, namespace: str = NAMESPACE) -> list[dict[str, Any]]:
    """The chart's objects for ``--set`` values, as the API server would receive them."""
    args = ["template", "souverain", str(chart), "-n", namespace, "--kube-version", KUBE_VERSION]
    for value in values:
        args += ["--set", value]
    return [doc for doc in yaml.safe_load_all(helm(*args)) if doc]
