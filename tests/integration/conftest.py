"""Fixtures of the integration tests: the session's cluster, its API clients, a fresh
namespace, the CRDs and the running operator."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain.devcluster.binaries import bin_dir
from souverain.devcluster.cluster import DevCluster
from tests.support.cluster import Cluster, docker_running, settle_deletions, wait_for
from tests.support.operator import STARTED, Operator
from tests.support.repository import REPO


@pytest.fixture(scope="module", autouse=True)
def no_traceback_in_operator_logs() -> Iterator[None]:
    """After each module, the log of every operator it started holds no traceback: the
    operator answers failures and odd input with one line saying what happened."""
    before = len(STARTED)
    yield
    found = [trace for operator in STARTED[before:] for trace in operator.tracebacks()]
    assert not found, "the operator logged tracebacks:\n" + "\n\n".join(found[:3])


@pytest.fixture(scope="session")
def cluster(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Cluster]:
    """The session's cluster: local control plane, kind, or an existing kubeconfig."""
    existing = request.config.getoption("--kubeconfig")
    kind = request.config.getoption("--cluster")
    previous = os.environ.get("KUBECONFIG")
    if existing:
        found = Cluster(Path(existing).absolute(), "existing")
        os.environ["KUBECONFIG"] = str(found.kubeconfig)
        yield found
    elif kind == "kind":
        if not shutil.which("kind"):
            pytest.skip("--cluster=kind needs the kind command, which is not installed here")
        if not docker_running():
            pytest.skip("--cluster=kind needs a running Docker engine, and none answers here")
        from pytest_kind import KindCluster

        kubectl = bin_dir() / "kubectl"
        # Both paths are given so that pytest-kind never downloads a binary.
        kind_cluster = KindCluster(
            request.config.getoption("cluster_name"),
            kind_path=Path(str(shutil.which("kind"))),
            kubectl_path=kubectl if kubectl.exists() else Path(str(shutil.which("kubectl"))),
        )
        kind_cluster.create()
        try:
            os.environ["KUBECONFIG"] = str(kind_cluster.kubeconfig_path)
            yield Cluster(Path(kind_cluster.kubeconfig_path), "kind")
        finally:
            kind_cluster.delete()
    else:
        local = DevCluster(tmp_path_factory.mktemp("dev-cluster"))
        try:
            local.up()
            os.environ["KUBECONFIG"] = str(local.kubeconfig)
            yield Cluster(local.kubeconfig, "local")
        finally:
            local.down()
    if previous is None:
        os.environ.pop("KUBECONFIG", None)
    else:
        os.environ["KUBECONFIG"] = previous


@pytest.fixture(scope="session")
def api(cluster: Cluster) -> Iterator[Any]:
    with cluster.api() as api_client:
        yield api_client


@pytest.fixture
def core(api: Any) -> Any:
    return client.CoreV1Api(api)


@pytest.fixture
def namespace(core: Any) -> Iterator[str]:
    """A fresh namespace whose default ServiceAccount exists; deleted afterwards."""
    name = f"t-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    wait_for(
        lambda: core.read_namespaced_service_account("default", name),
        f"the default ServiceAccount of {name}",
    )
    yield name
    try:
        core.delete_namespace(name)
    except ApiException as error:
        if error.status != 404:
            raise


@pytest.fixture(scope="session")
def souverain_crds(cluster: Cluster) -> None:
    """The CRDs of ``crds/``, installed as a user would and established."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds")
    )


@pytest.fixture(scope="module")
def operator(
    cluster: Cluster, souverain_crds: None, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Operator]:
    """The operator, running against the session's cluster for the tests of one module;
    modules that do not ask for it (such as the CRD validation tests) run without it."""
    running = Operator(cluster, tmp_path_factory.mktemp("operator"))
    running.start()
    try:
        yield running
    finally:
        settle_deletions(cluster)
        running.stop()
