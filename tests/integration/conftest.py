"""A real control plane for the integration tests, and helpers to use it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from souverain.devcluster.binaries import bin_dir
from souverain.devcluster.cluster import DevCluster

T = TypeVar("T")


@dataclass
class Cluster:
    """A cluster the tests talk to: its kubeconfig and where it came from."""

    kubeconfig: Path
    kind: str

    def api(self, impersonate: str | None = None, groups: tuple[str, ...] = ()) -> Any:
        configuration = client.Configuration()
        config.load_kube_config(str(self.kubeconfig), client_configuration=configuration)
        api = client.ApiClient(configuration)
        if impersonate:
            api.set_default_header("Impersonate-User", impersonate)
            for group in groups:
                # The client sends one value per header name; one group is enough here.
                api.set_default_header("Impersonate-Group", group)
        return api

    def kubectl(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        kubectl = shutil.which("kubectl", path=f"{bin_dir()}:{os.environ.get('PATH', '')}")
        assert kubectl, "kubectl is not built: run 'make binaries'"
        return subprocess.run(
            [kubectl, f"--kubeconfig={self.kubeconfig}", *args],
            capture_output=True,
            text=True,
            check=check,
            timeout=120,
        )


def _docker_running() -> bool:
    if not shutil.which("docker"):
        return False
    result = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    return result.returncode == 0


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
        if not _docker_running():
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


def wait_for(
    probe: Callable[[], T | None], what: str, timeout: float = 60.0, interval: float = 0.25
) -> T:
    """Polls ``probe`` until it returns something truthy; fails naming ``what``."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = probe()
        except ApiException as error:
            last = f"{error.status} {error.reason}"
        else:
            if last:
                return last
        time.sleep(interval)
    raise AssertionError(f"timed out waiting for {what} (last seen: {last!r})")


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


REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def souverain_crds(cluster: Cluster) -> None:
    """The CRDs of ``crds/``, installed as a user would and established."""
    cluster.kubectl("apply", "--server-side", "--force-conflicts", "-f", str(REPO / "crds"))
    cluster.kubectl(
        "wait", "--for=condition=Established", "--timeout=60s", "-f", str(REPO / "crds")
    )


class Operator:
    """``souverain run`` as a child process, which tests can stop and start again."""

    def __init__(
        self,
        cluster: Cluster,
        log_dir: Path,
        kubeconfig: Path | None = None,
        username: str | None = None,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        """``kubeconfig`` and ``username`` run it as another identity than the cluster's
        admin (``SOUVERAIN_OPERATOR_USERNAME``, which the admission policies trust);
        ``extra_env`` adds environment variables."""
        from souverain.devcluster.cluster import free_port

        self.cluster = cluster
        self.log_dir = log_dir
        self.kubeconfig = kubeconfig or cluster.kubeconfig
        self.username = username
        self.extra_env = dict(extra_env or {})
        self.metrics_port = free_port()
        self.liveness_port = free_port()
        self.webhook_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.metrics_port}/metrics"

    def start(self) -> None:
        import sys
        import urllib.request

        self.starts += 1
        log = open(self.log_dir / f"operator-{self.starts}.log", "wb")  # noqa: SIM115
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "souverain",
                "run",
                f"--liveness=127.0.0.1:{self.liveness_port}",
                f"--metrics=127.0.0.1:{self.metrics_port}",
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            # Discovery refreshed often, so that tests adding an API see it picked up.
            env={
                **os.environ,
                "KUBECONFIG": str(self.kubeconfig),
                "SOUVERAIN_DISCOVERY_SECONDS": "2",
                # The API server calls the webhooks on loopback, trusting the CA the
                # operator made in the log folder (kept across restarts).
                "SOUVERAIN_WEBHOOK_LISTEN": f"127.0.0.1:{self.webhook_port}",
                "SOUVERAIN_WEBHOOK_URL": f"https://127.0.0.1:{self.webhook_port}",
                "SOUVERAIN_WEBHOOK_CERT_DIR": str(self.log_dir / "webhook-certificates"),
                **({"SOUVERAIN_OPERATOR_USERNAME": self.username} if self.username else {}),
                **self.extra_env,
            },
        )
        log.close()

        def healthy() -> bool:
            assert self.process is not None
            assert self.process.poll() is None, self.log()
            try:
                url = f"http://127.0.0.1:{self.liveness_port}/healthz"
                with urllib.request.urlopen(url, timeout=2) as response:
                    return bool(response.status == 200)
            except OSError:
                return False

        wait_for(healthy, "the operator to serve its liveness endpoint", timeout=60)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=60)
        self.process = None

    def log(self) -> str:
        return (self.log_dir / f"operator-{self.starts}.log").read_text(errors="replace")


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


def settle_deletions(cluster: Cluster, timeout: float = 90.0) -> None:
    """Waits, while the operator still runs, for souverain objects being deleted to go,
    so that no module leaves objects stuck on the operator's finalizer for the next."""
    plurals = ("residentvolumes", "sovereignnamespaces", "sovereigntyprofiles")
    deadline = time.monotonic() + timeout
    with cluster.api() as api_client:
        objects = client.CustomObjectsApi(api_client)
        while time.monotonic() < deadline:
            pending = [
                item["metadata"]["name"]
                for plural in plurals
                for item in objects.list_cluster_custom_object("souverain.io", "v1alpha1", plural)[
                    "items"
                ]
                if item["metadata"].get("deletionTimestamp")
            ]
            if not pending:
                return
            time.sleep(0.5)
