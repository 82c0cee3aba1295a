"""The protection admission objects: three static policies that keep the operator's
objects as it made them, let the operator, cluster administrators and the cluster's
own controllers through, and per profile three bindings whose actions follow the
enforcement mode. What they refuse is tested on a real API server in
``tests/integration/test_escape_routes.py`` and ``test_protection.py``."""

from __future__ import annotations

import pytest

from souverain.admission.policy import binding_name
from souverain.admission.protection import (
    CLUSTER_CONTROLLERS,
    MANAGED_OBJECTS,
    NAMESPACE_LABELS,
    POLICY_NAMES,
    RESIDENT_CLAIMS,
    protection_bindings,
    protection_policies,
)
from souverain.api import SovereigntyProfileSpec
from souverain.labels import PROFILE, SOVEREIGN_NAMESPACE
from souverain.reconcile.profile import admission_objects

OPERATOR = "system:serviceaccount:souverain-system:souverain"


def spec(mode: str = "Enforce") -> SovereigntyProfileSpec:
    return SovereigntyProfileSpec.model_validate(
        {
            "nodeRequirements": [{"key": "sovereign", "operator": "Exists"}],
            "enforcement": {"mode": mode},
        }
    )


def test_each_policy_covers_the_objects_it_keeps() -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in protection_policies(OPERATOR)}
    assert list(policies) == list(POLICY_NAMES)
    resources = {
        name: sorted(
            r for rule in p["matchConstraints"]["resourceRules"] for r in rule["resources"]
        )
        for name, p in policies.items()
    }
    assert resources == {
        MANAGED_OBJECTS: ["ciliumnetworkpolicies", "networkpolicies", "rolebindings"],
        RESIDENT_CLAIMS: ["persistentvolumeclaims"],
        NAMESPACE_LABELS: ["namespaces"],
    }
    managed = policies[MANAGED_OBJECTS]["matchConstraints"]
    assert managed["objectSelector"] == {
        "matchExpressions": [{"key": SOVEREIGN_NAMESPACE, "operator": "Exists"}]
    }
    operations = {op for rule in managed["resourceRules"] for op in rule["operations"]}
    assert operations == {"CREATE", "UPDATE", "DELETE"}
    # A Namespace matches on its own labels, before or after the change.
    assert "namespaceSelector" not in policies[NAMESPACE_LABELS]["matchConstraints"]
    assert policies[NAMESPACE_LABELS]["matchConstraints"]["objectSelector"] == {
        "matchExpressions": [{"key": PROFILE, "operator": "Exists"}]
    }


def test_the_operator_admins_and_cluster_controllers_pass() -> None:
    for policy in protection_policies(OPERATOR):
        expressions = " ".join(c["expression"] for c in policy["spec"]["matchConditions"])
        assert f'request.userInfo.username != "{OPERATOR}"' in expressions
        assert '"system:masters" in request.userInfo.groups' in expressions
        for controller in CLUSTER_CONTROLLERS:
            assert f'"{controller}"' in expressions
        assert policy["spec"]["failurePolicy"] == "Fail"


def test_deletions_in_a_namespace_being_deleted_pass() -> None:
    policies = {p["metadata"]["name"]: p["spec"] for p in protection_policies(OPERATOR)}
    for name in (MANAGED_OBJECTS, RESIDENT_CLAIMS):
        expression = policies[name]["validations"][0]["expression"]
        assert "has(namespaceObject.metadata.deletionTimestamp)" in expression


@pytest.mark.parametrize(("mode", "actions"), [("Enforce", ["Deny"]), ("Audit", ["Warn", "Audit"])])
def test_bindings_follow_the_enforcement_mode(mode: str, actions: list[str]) -> None:
    bindings = {b["spec"]["policyName"]: b for b in protection_bindings("fr", spec(mode))}
    assert list(bindings) == list(POLICY_NAMES)
    for policy, binding in bindings.items():
        assert binding["metadata"]["name"] == binding_name(policy, "fr")
        assert binding["spec"]["validationActions"] == actions
        assert "paramRef" not in binding["spec"]
    selected = {"matchLabels": {PROFILE: "fr"}}
    assert bindings[NAMESPACE_LABELS]["spec"]["matchResources"] == {"objectSelector": selected}
    assert bindings[MANAGED_OBJECTS]["spec"]["matchResources"] == {"namespaceSelector": selected}


def test_the_profile_plan_applies_and_deletes_the_bindings() -> None:
    wanted = {binding_name(policy, "fr") for policy in POLICY_NAMES}
    assert wanted <= {o["metadata"]["name"] for o in admission_objects("fr", spec())}
    assert wanted <= {o["metadata"]["name"] for o in admission_objects("fr", None)}
