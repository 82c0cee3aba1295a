"""The snapshot admission objects: three static policies that let the operator and
cluster administrators through, and per profile three bindings whose actions follow the
enforcement mode. What the policies refuse is tested on a real API server in
``tests/integration/test_snapshots.py``."""

from __future__ import annotations

import pytest

from souverain import API_GROUP, API_VERSION
from souverain.admission.policy import binding_name
from souverain.admission.restores import restore_refusal
from souverain.admission.snapshots import (
    POLICY_NAMES,
    RESTORE_TEMPLATES,
    RESTORES,
    SNAPSHOTS,
    snapshot_bindings,
    snapshot_policies,
)
from souverain.admission.storage import POD_VOLUMES, WORKLOADS, storage_policies
from souverain.api import SovereigntyProfileSpec
from souverain.labels import PROFILE
from souverain.reconcile.profile import admission_objects
from tests.support.policies import exempt_conditions, selects_bound_namespaces

OPERATOR = "system:serviceaccount:souverain-system:souverain"


def spec(mode: str = "Enforce") -> SovereigntyProfileSpec:
    return SovereigntyProfileSpec.model_validate(
        {
            "nodeRequirements": [{"key": "sovereign", "operator": "Exists"}],
            "storage": {"allowedClasses": ["fr-ssd"], "allowedSnapshotClasses": ["fr-snap"]},
            "enforcement": {"mode": mode},
        }
    )


def test_one_policy_per_shape_of_object_that_takes_or_restores_a_snapshot() -> None:
    policies = {p["metadata"]["name"]: p for p in snapshot_policies(OPERATOR)}
    assert list(policies) == [SNAPSHOTS, RESTORES, RESTORE_TEMPLATES]
    rules = {
        name: [
            (group, resource, tuple(rule["operations"]))
            for rule in p["spec"]["matchConstraints"]["resourceRules"]
            for group in rule["apiGroups"]
            for resource in rule["resources"]
        ]
        for name, p in policies.items()
    }
    assert rules == {
        SNAPSHOTS: [("snapshot.storage.k8s.io", "volumesnapshots", ("CREATE", "UPDATE"))],
        RESTORES: [("", "persistentvolumeclaims", ("CREATE",))],
        RESTORE_TEMPLATES: [("apps", "statefulsets", ("CREATE", "UPDATE"))],
    }
    for policy in policies.values():
        assert policy["spec"]["paramKind"] == {
            "apiVersion": f"{API_GROUP}/{API_VERSION}",
            "kind": "SovereigntyProfile",
        }
        assert policy["spec"]["failurePolicy"] == "Fail"
        assert policy["spec"]["matchConstraints"]["matchPolicy"] == "Equivalent"
        assert selects_bound_namespaces(policy)


def test_the_operator_cluster_admins_and_for_claims_the_volume_controllers_pass() -> None:
    for policy in snapshot_policies(OPERATOR):
        conditions = exempt_conditions(policy)
        assert conditions["not-the-operator"] == f'request.userInfo.username != "{OPERATOR}"'
        assert '"system:masters" in request.userInfo.groups' in conditions["not-a-cluster-admin"]
        trusted = "not-a-volume-controller" in conditions
        assert trusted == (policy["metadata"]["name"] == RESTORES)


def test_updates_are_checked_only_when_they_change_what_is_checked() -> None:
    policies = {p["metadata"]["name"]: p for p in snapshot_policies(OPERATOR)}
    snapshot_update = list(exempt_conditions(policies[SNAPSHOTS]).values())[-1]
    assert snapshot_update.startswith("request.operation != 'UPDATE' || ")
    assert "volumeSnapshotClassName" in snapshot_update
    assert "object.spec.source != oldObject.spec.source" in snapshot_update
    templates = list(exempt_conditions(policies[RESTORE_TEMPLATES]).values())[-1]
    assert "volumeClaimTemplates" in templates


def test_the_snapshot_policy_reads_the_allowed_snapshot_classes_and_names_the_fields() -> None:
    (policy,) = [p for p in snapshot_policies(OPERATOR) if p["metadata"]["name"] == SNAPSHOTS]
    variables = {v["name"]: v["expression"] for v in policy["spec"]["variables"]}
    assert variables["allowed"] == "params.spec.?storage.?allowedSnapshotClasses.orValue([])"
    messages = " ".join(v["messageExpression"] for v in policy["spec"]["validations"])
    assert "spec.source.volumeSnapshotContentName" in messages
    assert "spec.volumeSnapshotClassName" in messages
    assert "name one of the classes" in messages


def test_restores_compare_the_snapshot_group_and_kind_exactly() -> None:
    refusal = restore_refusal("object.spec", "'spec.'")
    assert (
        "? '' : object.spec.dataSourceRef.?apiGroup.orValue('')) == \"snapshot.storage.k8s.io\""
        in refusal
    )
    assert 'object.spec.dataSourceRef.kind == "VolumeSnapshot"' in refusal
    assert "object.spec.dataSourceRef.namespace != request.namespace" in refusal
    assert "lowerAscii()" in refusal  # look-alikes are found in any case, then refused


def test_ephemeral_volumes_of_pods_and_templates_get_the_restore_check() -> None:
    policies = {p["metadata"]["name"]: p for p in storage_policies(OPERATOR)}
    for name in (POD_VOLUMES, WORKLOADS):
        variables = {v["name"]: v["expression"] for v in policies[name]["spec"]["variables"]}
        assert (
            "v.ephemeral.volumeClaimTemplate.spec.dataSourceRef.namespace"
            in (variables["refusals"])
        )


@pytest.mark.parametrize(("mode", "actions"), [("Enforce", ["Deny"]), ("Audit", ["Warn", "Audit"])])
def test_bindings_follow_the_enforcement_mode(mode: str, actions: list[str]) -> None:
    bindings = snapshot_bindings("french-sovereign", spec(mode))
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


def test_the_profile_plan_carries_the_snapshot_bindings_and_deletes_them_too() -> None:
    applied = {o["metadata"]["name"] for o in admission_objects("fr", spec())}
    deleted = {o["metadata"]["name"] for o in admission_objects("fr", None)}
    wanted = {binding_name(policy, "fr") for policy in POLICY_NAMES}
    assert wanted <= applied
    assert wanted <= deleted
