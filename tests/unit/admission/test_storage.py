"""The storage-class admission objects: three static policies that let the operator and
cluster administrators through, and per profile three bindings whose actions follow the
enforcement mode. What the policies refuse is tested on a real API server in
``tests/integration/test_resident_volume.py``."""

from __future__ import annotations

import pytest

from souverain import API_GROUP, API_VERSION
from souverain.admission.storage import (
    CLAIMS,
    CRONJOBS,
    POD_VOLUMES,
    POLICY_NAMES,
    STATEFULSETS,
    WORKLOADS,
    storage_binding_name,
    storage_bindings,
    storage_policies,
)
from souverain.api import SovereigntyProfileSpec
from souverain.labels import PROFILE
from souverain.reconcile.profile import admission_objects
from tests.support.policies import exempt_conditions, selects_bound_namespaces

OPERATOR = "system:serviceaccount:souverain-system:souverain"


def spec(mode: str = "Enforce") -> SovereigntyProfileSpec:
    return SovereigntyProfileSpec.model_validate(
        {
            "nodeRequirements": [{"key": "sovereign", "operator": "Exists"}],
            "storage": {"allowedClasses": ["fr-ssd"]},
            "enforcement": {"mode": mode},
        }
    )


def test_one_policy_per_kind_of_object_that_claims_storage() -> None:
    policies = {p["metadata"]["name"]: p for p in storage_policies(OPERATOR)}
    assert list(policies) == [CLAIMS, STATEFULSETS, POD_VOLUMES, WORKLOADS, CRONJOBS]
    resources = {
        name: sorted(
            resource
            for rule in p["spec"]["matchConstraints"]["resourceRules"]
            for resource in rule["resources"]
        )
        for name, p in policies.items()
    }
    assert resources == {
        CLAIMS: ["persistentvolumeclaims"],
        STATEFULSETS: ["statefulsets"],
        POD_VOLUMES: ["pods"],
        WORKLOADS: [
            "daemonsets",
            "deployments",
            "jobs",
            "replicasets",
            "replicationcontrollers",
            "statefulsets",
        ],
        CRONJOBS: ["cronjobs"],
    }
    for policy in policies.values():
        assert policy["spec"]["paramKind"] == {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "SovereigntyProfile",
        }
        assert policy["spec"]["failurePolicy"] == "Fail"
        assert selects_bound_namespaces(policy)


def test_the_operator_and_cluster_admins_pass() -> None:
    for policy in storage_policies(OPERATOR):
        expressions = list(exempt_conditions(policy).values())
        assert f'request.userInfo.username != "{OPERATOR}"' in expressions
        assert any('"system:masters" in request.userInfo.groups' in e for e in expressions)


def test_updates_are_checked_only_when_they_change_what_is_checked() -> None:
    policies = {p["metadata"]["name"]: p for p in storage_policies(OPERATOR)}
    for name in (CLAIMS, STATEFULSETS, WORKLOADS, CRONJOBS):
        conditions = exempt_conditions(policies[name])
        assert list(conditions)[-1] == "storage-written"
        assert conditions["storage-written"].startswith("request.operation != 'UPDATE' || ")
    ops = policies[POD_VOLUMES]["spec"]["matchConstraints"]["resourceRules"][0]
    assert ops["operations"] == ["CREATE"]


@pytest.mark.parametrize(("mode", "actions"), [("Enforce", ["Deny"]), ("Audit", ["Warn", "Audit"])])
def test_bindings_follow_the_enforcement_mode(mode: str, actions: list[str]) -> None:
    bindings = storage_bindings("french-sovereign", spec(mode))
    assert [b["spec"]["policyName"] for b in bindings] == list(POLICY_NAMES)
    for binding in bindings:
        assert binding["spec"]["validationActions"] == actions
        assert binding["spec"]["paramRef"] == {
            "name": "french-sovereign",
            "parameterNotFoundAction": "Deny",
        }
        assert binding["spec"]["matchResources"] == {
            "namespaceSelector": {"matchLabels": {PROFILE: "french-sovereign"}}
        }
        assert binding["metadata"]["labels"][PROFILE] == "french-sovereign"


def test_binding_names_stay_valid_and_distinct_for_long_profiles() -> None:
    long_a, long_b = "a" * 250 + "x", "a" * 250 + "y"
    for policy in POLICY_NAMES:
        assert storage_binding_name(policy, "fr") == f"{policy}-fr"
        name_a, name_b = storage_binding_name(policy, long_a), storage_binding_name(policy, long_b)
        assert len(name_a) <= 253
        assert name_a != name_b


def test_the_profile_plan_carries_the_storage_bindings_and_deletes_them_too() -> None:
    native = {o["metadata"]["name"] for o in admission_objects("fr", spec())}
    alone = {o["metadata"]["name"] for o in admission_objects("fr", spec(), native_placement=False)}
    deleted = {o["metadata"]["name"] for o in admission_objects("fr", None)}
    wanted = {storage_binding_name(policy, "fr") for policy in POLICY_NAMES}
    # With native placement, the placement policy makes the pods' volume checks.
    assert native & wanted == wanted - {storage_binding_name(POD_VOLUMES, "fr")}
    assert wanted <= alone
    assert wanted <= deleted


def test_the_claim_binder_passes_the_claims_policy_only() -> None:
    policies = {p["metadata"]["name"]: p for p in storage_policies(OPERATOR)}
    for name, policy in policies.items():
        names = list(exempt_conditions(policy))
        assert ("not-a-volume-controller" in names) == (name == CLAIMS)
