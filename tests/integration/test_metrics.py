"""The operator's metrics, scraped during real scenarios, agree with the cluster's state;
series of deleted objects go away."""

from __future__ import annotations

import urllib.request
import uuid
from typing import Any

import pytest
from kubernetes import client

from tests.support.cluster import wait_for
from tests.support.operator import Operator
from tests.support.placement import running
from tests.support.tenancy import Tenancy

RUN = uuid.uuid4().hex[:6]
PROFILE = f"metrics-{RUN}"
CLEAN, ADOPTED = f"metrics-clean-{RUN}", f"metrics-adopted-{RUN}"

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


def profile_namespaces(values: dict[str, float]) -> float:
    """SovereignNamespaces of the test's profile, whatever their readiness."""
    return sum(
        value
        for key, value in values.items()
        if key.startswith("souverain_sovereign_namespaces{") and f'profile="{PROFILE}"' in key
    )


def pod(name: str, selector: dict[str, str] | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "registry.example/app:1"}]}
    if selector:
        spec["nodeSelector"] = selector
    return {"metadata": {"name": name}, "spec": spec}


def test_metrics_follow_the_cluster(api: Any, operator: Operator) -> None:
    tenancy, core = Tenancy(api), client.CoreV1Api(api)
    tenancy.profile(PROFILE)
    core.create_namespace({"metadata": {"name": ADOPTED}})
    wait_for(lambda: core.read_namespaced_service_account("default", ADOPTED), "default SA")
    core.create_namespaced_pod(ADOPTED, pod("legacy", {"topology.kubernetes.io/region": "us-east"}))
    wait_for(lambda: running(core, ADOPTED, "legacy"), "the legacy pod to run")
    for name in (CLEAN, ADOPTED):
        tenancy.namespace(name, PROFILE)
    try:
        tenancy.wait(CLEAN)
        wait_for(lambda: core.read_namespaced_service_account("default", CLEAN), "default SA")
        for index in range(2):
            core.create_namespaced_pod(CLEAN, pod(f"app-{index}"))
        for index in range(2):
            wait_for(lambda i=index: running(core, CLEAN, f"app-{i}"), "the pinned pods to run")

        def agreeing() -> dict[str, float] | None:
            values = scrape(operator)
            clean = tenancy.status("sovereignnamespaces", CLEAN)
            adopted = tenancy.status("sovereignnamespaces", ADOPTED)
            qualified = tenancy.status("sovereigntyprofiles", PROFILE).get("qualifiedNodes")
            if clean.get("compliantPods") != 2 or adopted.get("nonCompliantPods") != 1:
                return None
            if qualified is None:
                # The profile's status is not written yet; a missing series would agree.
                return None
            expected = {
                f'souverain_compliant_pods{{namespace="{CLEAN}",profile="{PROFILE}"}}': 2,
                f'souverain_non_compliant_pods{{namespace="{ADOPTED}",profile="{PROFILE}"}}': 1,
                f'souverain_qualified_nodes{{profile="{PROFILE}"}}': qualified,
            }
            if all(values.get(key) == value for key, value in expected.items()):
                return values
            return None

        values = wait_for(agreeing, "the metrics to agree with the status of the cluster")
        assert values[f'souverain_qualified_nodes{{profile="{PROFILE}"}}'] == 3
        ready = sum(1 for name in (CLEAN, ADOPTED) if tenancy.condition_is_true(name))
        assert profile_namespaces(values) == 2
        key = f'souverain_sovereign_namespaces{{profile="{PROFILE}",ready="True"}}'
        assert values.get(key, 0) == ready
        assert values['souverain_reconcile_total{kind="SovereignNamespace",result="success"}'] >= 2

        tenancy.delete("sovereignnamespaces", ADOPTED)

        def forgotten() -> bool:
            after = scrape(operator)
            gone = not any(f'namespace="{ADOPTED}"' in key for key in after)
            return gone and profile_namespaces(after) == 1

        wait_for(forgotten, "the deleted namespace's series to go")
    finally:
        for name in (CLEAN, ADOPTED):
            tenancy.delete("sovereignnamespaces", name)
        tenancy.delete("sovereigntyprofiles", PROFILE)
