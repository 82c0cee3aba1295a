"""``souverain report`` and ``plan`` against a cluster without the souverain CRDs and
against an API server that does not answer: one line on stderr saying so, exit code 1,
no traceback (the cluster rows of :mod:`tests.support.malformed`)."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from souverain.devcluster.cluster import DevCluster
from tests.support.malformed import CLUSTER_ROWS, Cluster, Command, Malformed


@pytest.fixture(scope="module")
def bare_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """The kubeconfig of a fresh local control plane on which no CRD is installed."""
    cluster = DevCluster(tmp_path_factory.mktemp("bare-cluster"))
    try:
        cluster.up()
        yield cluster.kubeconfig
    finally:
        cluster.down()


def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port  # closed again: nothing listens there


@pytest.fixture(scope="module")
def unreachable(bare_cluster: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A kubeconfig like the bare cluster's, naming a port where nothing listens."""
    config = yaml.safe_load(bare_cluster.read_text())
    config["clusters"][0]["cluster"]["server"] = f"https://127.0.0.1:{closed_port()}"
    path = tmp_path_factory.mktemp("unreachable") / "kubeconfig"
    path.write_text(yaml.safe_dump(config))
    return path


def server_of(kubeconfig: Path) -> str:
    server: str = yaml.safe_load(kubeconfig.read_text())["clusters"][0]["cluster"]["server"]
    return server


@pytest.mark.parametrize("row", CLUSTER_ROWS, ids=[f"{r.entry}: {r.name}" for r in CLUSTER_ROWS])
def test_a_cluster_that_cannot_be_used_gets_one_line(
    row: Malformed, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    assert isinstance(row.given, Command)
    clusters: dict[Cluster, str] = {"without-crds": "bare_cluster", "unreachable": "unreachable"}
    kubeconfig: Path = request.getfixturevalue(clusters[row.given.cluster])
    file = tmp_path / "objects.yaml"
    if isinstance(row.given.file, str):
        file.write_text(row.given.file)
    args = [arg.replace("{file}", str(file)) for arg in row.given.args]
    env = {k: v for k, v in os.environ.items() if k != "KUBERNETES_SERVICE_HOST"}
    env["KUBECONFIG"] = str(kubeconfig)
    done = subprocess.run(
        [sys.executable, "-m", "souverain", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    says = row.says.replace("{file}", str(file)).replace("{server}", server_of(kubeconfig))
    assert done.returncode == row.answer, done.stderr
    assert done.stdout == ""
    assert "Traceback" not in done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("souverain: ")
    assert says in lines[0]
