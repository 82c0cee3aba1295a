"""The image admission objects: four static policies, one per shape of object that holds
a pod spec, that let the operator and cluster administrators through and check updates
only when an image changes; per profile four bindings whose actions follow the
enforcement mode, kept whatever the list (an empty one allows every image). What the
policies refuse is tested on a real API server in ``tests/integration/test_images.py``."""

from __future__ import annotations

import re

import pytest

from souverain.admission.images import (
    CRONJOBS,
    IMAGE_ID,
    POD_TEMPLATES,
    PODS,
    POLICY_NAMES,
    REFERENCE_GRAMMAR,
    WORKLOADS,
    images_bindings,
    images_policies,
)
from souverain.api import SovereigntyProfileSpec
from souverain.labels import PROFILE
from souverain.reconcile.profile import admission_objects
from tests.support.policies import exempt_conditions

OPERATOR = "system:serviceaccount:souverain-system:souverain"


def spec(mode: str = "Enforce", registries: list[str] | None = None) -> SovereigntyProfileSpec:
    return SovereigntyProfileSpec.model_validate(
        {
            "nodeRequirements": [{"key": "sovereign", "operator": "Exists"}],
            "images": {"allowedRegistries": registries or []},
            "enforcement": {"mode": mode},
        }
    )


def test_one_policy_per_shape_of_pod_spec() -> None:
    policies = {p["metadata"]["name"]: p for p in images_policies(OPERATOR)}
    assert list(policies) == [PODS, WORKLOADS, CRONJOBS, POD_TEMPLATES]
    resources = {
        name: sorted(
            resource
            for rule in p["spec"]["matchConstraints"]["resourceRules"]
            for resource in rule["resources"]
        )
        for name, p in policies.items()
    }
    assert resources == {
        PODS: ["pods", "pods/ephemeralcontainers"],
        WORKLOADS: [
            "daemonsets",
            "deployments",
            "jobs",
            "replicasets",
            "replicationcontrollers",
            "statefulsets",
        ],
        CRONJOBS: ["cronjobs"],
        POD_TEMPLATES: ["podtemplates"],
    }
    for policy in policies.values():
        rules = policy["spec"]["matchConstraints"]["resourceRules"]
        assert all(rule["operations"] == ["CREATE", "UPDATE"] for rule in rules)
        assert policy["spec"]["failurePolicy"] == "Fail"
        assert policy["spec"]["paramKind"]["kind"] == "SovereigntyProfile"


def test_the_operator_and_cluster_admins_pass_and_updates_are_checked_when_images_change() -> None:
    for policy in images_policies(OPERATOR):
        conditions = exempt_conditions(policy)
        assert OPERATOR in conditions["not-the-operator"]
        assert "system:masters" in conditions["not-a-cluster-admin"]
        written = conditions["images-written"]
        assert written.startswith("request.operation != 'UPDATE' || ")
        for place in ("containers", "initContainers", "ephemeralContainers", "volumes"):
            assert place in written


@pytest.mark.parametrize(
    ("name", "path"),
    [
        (PODS, "spec"),
        (WORKLOADS, "spec.template.spec"),
        (CRONJOBS, "spec.jobTemplate.spec.template.spec"),
        (POD_TEMPLATES, "template.spec"),
    ],
)
def test_refusals_name_the_field_under_the_pod_spec(name: str, path: str) -> None:
    (policy,) = [p for p in images_policies(OPERATOR) if p["metadata"]["name"] == name]
    references = {v["name"]: v["expression"] for v in policy["spec"]["variables"]}["references"]
    for field in ("containers[", "initContainers[", "ephemeralContainers[", "volumes["):
        assert f'"{path}.{field}"' in references
    assert "'].image.reference'" in references
    (validation,) = policy["spec"]["validations"]
    assert validation["expression"].startswith(
        "variables.exempt || (size(variables.allowed) == 0 || "
    )


@pytest.mark.parametrize("mode", ["Enforce", "Audit"])
def test_one_binding_per_policy_for_every_profile_even_without_registries(mode: str) -> None:
    bindings = images_bindings("french-sovereign", spec(mode))
    assert [b["spec"]["policyName"] for b in bindings] == list(POLICY_NAMES)
    actions = ["Deny"] if mode == "Enforce" else ["Warn", "Audit"]
    for binding in bindings:
        assert binding["spec"]["paramRef"] == {
            "name": "french-sovereign",
            "parameterNotFoundAction": "Deny",
        }
        assert binding["spec"]["validationActions"] == actions
        assert binding["spec"]["matchResources"] == {
            "namespaceSelector": {"matchLabels": {PROFILE: "french-sovereign"}}
        }


def test_the_profile_plan_carries_the_image_bindings_and_deletes_them_too() -> None:
    profile = spec(registries=["a.b"])
    native = {o["metadata"]["name"] for o in admission_objects("fr", profile)}
    alone = {
        o["metadata"]["name"] for o in admission_objects("fr", profile, native_placement=False)
    }
    stubs = {o["metadata"]["name"] for o in admission_objects("fr", None)}
    for policy in POLICY_NAMES:
        # With native placement, the placement policy makes the pods' image checks.
        assert (f"{policy}-fr" in native) == (policy != PODS)
        assert f"{policy}-fr" in alone
        assert f"{policy}-fr" in stubs


@pytest.mark.parametrize(
    ("reference", "readable"),
    [
        ("nginx", True),
        ("Registry.FR.example:5000/team-a/app:1.2@" + "sha256:" + "ab" * 32, True),
        ("https://registry.fr.example/app", False),
        ("registry.fr.example/App", False),
        ("registry.fr.example//app", False),
    ],
)
def test_the_grammar_the_policy_reads_references_with(reference: str, readable: bool) -> None:
    assert bool(re.match(REFERENCE_GRAMMAR, reference)) is readable


def test_a_bare_algorithm_and_hex_reads_as_an_image_id() -> None:
    assert re.match(IMAGE_ID, "sha256:" + "ab" * 32)
    assert not re.match(IMAGE_ID, "registry.fr.example/app:" + "ab" * 32)
