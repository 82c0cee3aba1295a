"""The operator's metrics, scraped during real scenarios, agree with the cluster's state;
series of deleted objects go away."""

from __future__ import annotations

import urllib.request
import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.integration.conftest import Operator, wait_for

GROUP, VERSION = "souverain.io", "v1alpha1"
RUN = uuid.uuid4().hex[:6]
PROFILE = f"metrics-{RUN}"
CLEAN, ADOPTED = f"metrics-clean-{RUN}", f"metrics-adopted-{RUN}"
SOVEREIGN = "node-restriction.kubernetes.io/french-sovereign"

pytestmark = pytest.mark.usefixtures("operator")


def scrape(operator: Operator) -> dict[str, float]:
    with urllib.request.urlopen(operator.metrics_url, timeout=5) as response:
        text = response.read().decode()
    values: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("souverain_"):
            key, value = line.rsplit(" ", 1)
            values[key] = float(value)
    return values


def pod(name: str, selector: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "registry.example/app:1"}]}
    if selector:
        spec["nodeSelector"] = selector
    return {"metadata": {"name": name}, "spec": spec}


def sns_status(objects: Any, name: str) -> dict[str, Any]:
    found = objects.get_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces", name)
    return dict(found.get("status") or {})


def test_metrics_follow_the_cluster(api: Any, operator: Operator) -> None:
    objects, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    objects.create_cluster_custom_object(
        GROUP,
        VERSION,
        "sovereigntyprofiles",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SovereigntyProfile",
            "metadata": {"name": PROFILE},
            "spec": {
                "nodeRequirements": [{"key": SOVEREIGN, "operator": "In", "values": ["true"]}]
            },
        },
    )
    core.create_namespace({"metadata": {"name": ADOPTED}})
    wait_for(lambda: core.read_namespaced_service_account("default", ADOPTED), "default SA")
    core.create_namespaced_pod(ADOPTED, pod("legacy", {"topology.kubernetes.io/region": "us-east"}))
    wait_for(
        lambda: core.read_namespaced_pod("legacy", ADOPTED).status.phase == "Running",
        "the legacy pod to run",
    )
    for name in (CLEAN, ADOPTED):
        objects.create_cluster_custom_object(
            GROUP,
            VERSION,
            "sovereignnamespaces",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "SovereignNamespace",
                "metadata": {"name": name},
                "spec": {"profileName": PROFILE, "deletionPolicy": "Delete"},
            },
        )
    try:
        wait_for(
            lambda: any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in sns_status(objects, CLEAN).get("conditions", [])
            ),
            "the clean namespace to be Ready",
        )
        wait_for(lambda: core.read_namespaced_service_account("default", CLEAN), "default SA")
        for index in range(2):
            core.create_namespaced_pod(CLEAN, pod(f"app-{index}"))
        for index in range(2):
            wait_for(
                lambda index=index: (
                    core.read_namespaced_pod(f"app-{index}", CLEAN).status.phase == "Running"
                ),
                "the pinned pods to run",
            )

        def agreeing() -> dict[str, float] | None:
            values = scrape(operator)
            clean, adopted = sns_status(objects, CLEAN), sns_status(objects, ADOPTED)
            profile = objects.get_cluster_custom_object(
                GROUP, VERSION, "sovereigntyprofiles", PROFILE
            )
            expected = {
                f'souverain_compliant_pods{{namespace="{CLEAN}",profile="{PROFILE}"}}': clean.get(
                    "compliantPods"
                ),
                f'souverain_non_compliant_pods{{namespace="{ADOPTED}",profile="{PROFILE}"}}': (
                    adopted.get("nonCompliantPods")
                ),
                f'souverain_qualified_nodes{{profile="{PROFILE}"}}': (
                    profile.get("status") or {}
                ).get("qualifiedNodes"),
            }
            if clean.get("compliantPods") != 2 or adopted.get("nonCompliantPods") != 1:
                return None
            if all(values.get(key) == value for key, value in expected.items()):
                return values
            return None

        values = wait_for(agreeing, "the metrics to agree with the status of the cluster")
        assert values[f'souverain_qualified_nodes{{profile="{PROFILE}"}}'] == 3
        ready = sum(
            1
            for name in (CLEAN, ADOPTED)
            if any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in sns_status(objects, name).get("conditions", [])
            )
        )
        namespaces = sum(
            v
            for k, v in values.items()
            if k.startswith("souverain_sovereign_namespaces{") and f'profile="{PROFILE}"' in k
        )
        assert namespaces == 2
        assert (
            values.get(f'souverain_sovereign_namespaces{{profile="{PROFILE}",ready="True"}}', 0)
            == ready
        )
        assert values['souverain_reconcile_total{kind="SovereignNamespace",result="success"}'] >= 2

        objects.delete_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces", ADOPTED)

        def forgotten() -> bool:
            after = scrape(operator)
            return not any(f'namespace="{ADOPTED}"' in key for key in after) and (
                sum(
                    v
                    for k, v in after.items()
                    if k.startswith("souverain_sovereign_namespaces{")
                    and f'profile="{PROFILE}"' in k
                )
                == 1
            )

        wait_for(forgotten, "the deleted namespace's series to go")
    finally:
        for name in (CLEAN, ADOPTED):
            try:
                objects.delete_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces", name)
            except ApiException as error:
                if error.status != 404:
                    raise
        objects.delete_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", PROFILE)
