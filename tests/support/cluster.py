"""A cluster the integration tests talk to, and waiting on what happens in it."""

from __future__ import annotations

import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from souverain.devcluster.binaries import bin_dir

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


def docker_running() -> bool:
    """Whether a Docker engine answers, as kind needs one."""
    if not shutil.which("docker"):
        return False
    result = subprocess.run(["docker", "info"], capture_output=True, timeout=30, check=False)
    return result.returncode == 0


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


def ignoring_absent(call: Callable[[], Any]) -> None:
    """Calls ``call`` (a delete, say); an object already gone (404) is fine."""
    try:
        call()
    except ApiException as error:
        if error.status != 404:
            raise


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
