"""Scope before everything: every admission object the operator makes is matched only in
namespaces bound to a profile, before the API server looks at anything else of it."""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable
from typing import Any

import pytest

import souverain.admission
from souverain.admission.placement import SYSTEM_NAMESPACES, webhook_configurations
from souverain.admission.protection import NAMESPACE_LABELS
from souverain.api.names import NAMESPACE_NAME_LABEL
from souverain.labels import PROFILE

pytestmark = pytest.mark.unit

OPERATOR = "system:serviceaccount:souverain-system:souverain"
BOUND = {"matchExpressions": [{"key": PROFILE, "operator": "Exists"}]}

NAMESPACED: frozenset[str] = frozenset(
    {
        "pods",
        "pods/ephemeralcontainers",
        "pods/binding",
        "bindings",
        "persistentvolumeclaims",
        "services",
        "podtemplates",
        "replicationcontrollers",
        "networkpolicies",
        "rolebindings",
        "ciliumnetworkpolicies",
        "volumesnapshots",
        "deployments",
        "replicasets",
        "daemonsets",
        "statefulsets",
        "jobs",
        "cronjobs",
    }
)
"""Every namespaced resource a souverain admission object may match. A namespace
selector never exempts a cluster-scoped resource (other than a Namespace): one added
here must be namespaced."""


def _builders() -> list[Callable[..., Any]]:
    """Every public ``*_policy`` or ``*_policies`` function of the admission package that
    takes nothing or the operator's username: the policies the operator applies, found
    so that a new one cannot be left out of this test."""
    found = []
    for module_info in pkgutil.iter_modules(souverain.admission.__path__):
        module = importlib.import_module(f"souverain.admission.{module_info.name}")
        for name, function in inspect.getmembers(module, inspect.isfunction):
            if function.__module__ != module.__name__ or name.startswith("_"):
                continue
            if not name.endswith(("_policy", "_policies")):
                continue
            parameters = list(inspect.signature(function).parameters)
            if parameters in ([], ["operator_username"]):
                found.append(function)
    return found


def _policies() -> list[dict[str, Any]]:
    made: list[dict[str, Any]] = []
    for builder in _builders():
        result = builder(OPERATOR) if inspect.signature(builder).parameters else builder()
        made.extend(result if isinstance(result, list) else [result])
    return [p for p in made if p.get("kind", "").endswith("AdmissionPolicy")]


POLICIES = _policies()


def test_every_policy_module_is_found() -> None:
    names = {p["metadata"]["name"] for p in POLICIES}
    assert {
        "souverain-placement",
        "souverain-placement-pinning",
        "souverain-egress-floor",
        "souverain-storage-pod-volumes",
        "souverain-images-pods",
        "souverain-exposure-services",
        "souverain-snapshot-restores",
        "souverain-managed-objects",
        "souverain-resident-claims",
        NAMESPACE_LABELS,
    } <= names, names
    assert len(POLICIES) >= 15


@pytest.mark.parametrize("policy", POLICIES, ids=lambda p: p["metadata"]["name"])
def test_every_policy_matches_bound_namespaces_only(policy: dict[str, Any]) -> None:
    constraints = policy["spec"]["matchConstraints"]
    resources = {r for rule in constraints["resourceRules"] for r in rule["resources"]}
    if policy["metadata"]["name"] == NAMESPACE_LABELS:
        # A Namespace is matched by its own labels, before or after the change (a namespace
        # selector would read them after it, and miss a Namespace losing its label), and
        # the policy has no parameter that could fail to resolve.
        assert resources == {"namespaces"}
        assert constraints["objectSelector"] == BOUND
        assert "paramKind" not in policy["spec"]
        return
    assert constraints["namespaceSelector"] == BOUND
    assert resources <= NAMESPACED, resources - NAMESPACED


def test_every_policy_fails_closed() -> None:
    # Closed, and still never outside the scope: the selector comes first.
    assert {p["spec"]["failurePolicy"] for p in POLICIES} == {"Fail"}


def _webhooks(native: bool, namespace: str = "") -> list[dict[str, Any]]:
    configurations = webhook_configurations(
        lambda path: {"url": f"https://souverain.example/{path}"},
        pinning_is_native=native,
        operator_namespace=namespace,
    )
    return [webhook for c in configurations for webhook in c["webhooks"]]


@pytest.mark.parametrize("native", [True, False])
def test_webhooks_are_called_for_bound_namespaces_only_never_the_clusters_own(
    native: bool,
) -> None:
    for webhook in _webhooks(native, "souverain-system"):
        assert webhook["namespaceSelector"] == {
            "matchExpressions": [
                {"key": PROFILE, "operator": "Exists"},
                {
                    "key": NAMESPACE_NAME_LABEL,
                    "operator": "NotIn",
                    "values": sorted([*SYSTEM_NAMESPACES, "souverain-system"]),
                },
            ]
        }
        assert "objectSelector" not in webhook  # a tenant writes the labels of its objects
        for rule in webhook["rules"]:
            assert rule["scope"] == "Namespaced"
            assert set(rule["resources"]) <= NAMESPACED
    outside = _webhooks(native)[0]["namespaceSelector"]["matchExpressions"][1]["values"]
    assert outside == sorted(SYSTEM_NAMESPACES)


def test_webhook_failure_policies() -> None:
    failure = {
        native: {w["name"]: w["failurePolicy"] for w in _webhooks(native)}
        for native in (True, False)
    }
    # Pinning fails open only where the MutatingAdmissionPolicy pins anyway.
    assert failure[True] == {
        "pin.placement.souverain.io": "Ignore",
        "binding.placement.souverain.io": "Fail",
    }
    assert failure[False] == {
        "pin.placement.souverain.io": "Fail",
        "binding.placement.souverain.io": "Fail",
    }
