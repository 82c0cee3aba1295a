"""``souverain plan`` against the real control plane changes nothing and tells what a
profile change would break."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client

from tests.support.cluster import Cluster, wait_for

GROUP, VERSION = "souverain.io", "v1alpha1"
RUN = uuid.uuid4().hex[:6]
PROFILE = f"plan-{RUN}"
TENANT = f"plan-tenant-{RUN}"
SOVEREIGN = "node-restriction.kubernetes.io/french-sovereign"

pytestmark = pytest.mark.usefixtures("operator")


def profile(*requirements: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SovereigntyProfile",
        "metadata": {"name": PROFILE},
        "spec": {
            "nodeRequirements": [
                {"key": SOVEREIGN, "operator": "In", "values": ["true"]},
                *list(requirements),
            ],
            "egress": {"cidrs": [{"cidr": "10.0.0.0/8"}]},
        },
    }


@pytest.fixture(scope="module")
def tenant(api: Any, souverain_crds: None) -> Iterator[str]:
    objects, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    objects.create_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", profile())
    objects.create_cluster_custom_object(
        GROUP,
        VERSION,
        "sovereignnamespaces",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SovereignNamespace",
            "metadata": {"name": TENANT},
            "spec": {
                "profileName": PROFILE,
                "deletionPolicy": "Delete",
                "egress": {"cidrs": [{"cidr": "10.9.0.0/16"}]},
            },
        },
    )
    wait_for(lambda: core.read_namespaced_service_account("default", TENANT), "default SA")
    for zone in ("fr-paris-1", "fr-paris-2"):
        core.create_namespaced_pod(
            TENANT,
            {
                "metadata": {"name": f"app-{zone}"},
                "spec": {
                    "nodeSelector": {SOVEREIGN: "true", "topology.kubernetes.io/zone": zone},
                    "containers": [{"name": "app", "image": "registry.example/app:1"}],
                },
            },
        )
    for zone in ("fr-paris-1", "fr-paris-2"):
        wait_for(
            lambda zone=zone: (
                core.read_namespaced_pod(f"app-{zone}", TENANT).status.phase == "Running"
            ),
            f"the pod in {zone} to run",
        )
    yield TENANT
    objects.delete_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces", TENANT)
    objects.delete_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", PROFILE)


def run_plan(cluster: Cluster, document: dict[str, Any], tmp_path: Path) -> dict[str, Any]:
    path = tmp_path / "change.yaml"
    path.write_text(yaml.safe_dump(document))
    result = subprocess.run(
        [sys.executable, "-m", "souverain", "plan", "-f", str(path), "--format", "json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
    )
    assert result.returncode == 0, result.stderr
    parsed: dict[str, Any] = json.loads(result.stdout)
    return parsed


def test_plan_shows_what_a_tighter_profile_breaks_and_changes_nothing(
    cluster: Cluster, api: Any, tenant: str, tmp_path: Path
) -> None:
    objects = client.CustomObjectsApi(api)
    before = objects.get_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", PROFILE)
    tighter = profile(
        {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["fr-paris-2"]}
    )
    tighter["spec"]["egress"] = {"cidrs": [{"cidr": "10.8.0.0/16"}]}
    result = run_plan(cluster, tighter, tmp_path)
    assert result["qualifiedNodes"] == ["sov-fr-3"]
    (effect,) = result["namespaces"]
    assert effect["name"] == tenant
    assert [p.split(" on ")[0] for p in effect["nonCompliantPods"]] == ["app-fr-paris-1"]
    assert effect["refusedEgress"] == ["10.9.0.0/16"]
    after = objects.get_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", PROFILE)
    # The operator may write the profile's status meanwhile; the plan must not touch the
    # profile itself (its spec and generation).
    assert after["metadata"]["generation"] == before["metadata"]["generation"]
    assert after["spec"] == before["spec"]


def test_plan_of_the_current_profile_breaks_nothing(
    cluster: Cluster, tenant: str, tmp_path: Path
) -> None:
    result = run_plan(cluster, profile(), tmp_path)
    assert result["qualifiedNodes"] == ["sov-fr-1", "sov-fr-2", "sov-fr-3"]
    assert result["namespaces"][0]["nonCompliantPods"] == []
