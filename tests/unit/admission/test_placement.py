"""The placement admission objects: a mutating and a validating policy that read the
profile of bound namespaces, and per profile bindings whose actions follow the
enforcement mode. What they do to pods is tested in ``test_pinning.py`` and on a real
API server in ``tests/integration/test_placement.py``."""

from __future__ import annotations

import re
from typing import Any

import pytest

from souverain.admission.images import PODS, images_policies
from souverain.admission.pinning import pinning
from souverain.admission.placement import (
    MUTATING_POLICY_NAME,
    VALIDATING_POLICY_NAME,
    binding_name,
    mutating_binding,
    mutating_policy,
    validating_binding,
    validating_policy,
)
from souverain.admission.policy import merged_policy
from souverain.admission.storage import POD_VOLUMES, storage_policies
from souverain.labels import PROFILE
from tests.support.policies import selects_bound_namespaces
from tests.support.profiles import FRENCH

OPERATOR = "system:serviceaccount:souverain-system:souverain"


def test_policies_read_the_profile_and_select_bound_namespaces() -> None:
    for policy in (mutating_policy(), validating_policy(OPERATOR)):
        spec = policy["spec"]
        assert spec["paramKind"]["kind"] == "SovereigntyProfile"
        assert spec["failurePolicy"] == "Fail"
        assert selects_bound_namespaces(policy)
        assert spec["matchConstraints"]["resourceRules"][0]["resources"] == ["pods"]
    assert mutating_policy()["metadata"]["name"] == MUTATING_POLICY_NAME
    assert validating_policy(OPERATOR)["metadata"]["name"] == VALIDATING_POLICY_NAME


def _pod_policies() -> dict[str, dict[str, Any]]:
    return {
        p["metadata"]["name"]: p
        for p in (*storage_policies(OPERATOR), *images_policies(OPERATOR))
        if p["metadata"]["name"] in (POD_VOLUMES, PODS)
    }


def test_the_validating_policy_makes_the_pod_checks_of_storage_and_images() -> None:
    merged = validating_policy(OPERATOR)["spec"]
    alone = _pod_policies()
    rules = [
        rule for p in alone.values() for rule in p["spec"]["matchConstraints"]["resourceRules"]
    ]
    for rule in rules:
        assert rule in merged["matchConstraints"]["resourceRules"]
    expected = 3 + sum(len(p["spec"]["validations"]) for p in alone.values())
    assert len(merged["validations"]) == expected
    messages = [v.get("message") for v in merged["validations"]]
    for policy in alone.values():
        for validation in policy["spec"]["validations"]:
            assert validation.get("message") in messages
    # Placement's checks hold for pod creation only; the images' for updates too.
    first, volumes, images = (
        merged["validations"][0],
        merged["validations"][3],
        merged["validations"][4],
    )
    assert '["CREATE"]' in first["expression"].split(") || (")[0]
    assert '["CREATE"]' in volumes["expression"].split(") || (")[0]
    assert '"UPDATE"' in images["expression"].split(") || (")[0]


def test_every_variable_the_merged_policy_reads_is_one_it_has() -> None:
    spec = validating_policy(OPERATOR)["spec"]
    names = [v["name"] for v in spec["variables"]]
    assert len(names) == len(set(names))
    assert {"placementProfile", "volumesExempt", "imagesExempt", "imagesRefusals"} <= set(names)
    expressions = [v["expression"] for v in spec["variables"]] + [
        text
        for v in spec["validations"]
        for key, text in v.items()
        if key in ("expression", "messageExpression")
    ]
    for expression in expressions:
        for read in re.findall(r"\bvariables\.(\w+)", expression):
            assert read in names, (read, expression[:200])
    # Each validation of storage and images is still let through by its own exemption.
    for validation in spec["validations"][3:]:
        assert "variables.volumesExempt ||" in validation["expression"] or (
            "variables.imagesExempt ||" in validation["expression"]
        )


def test_policies_of_other_parameters_scopes_or_with_match_conditions_do_not_merge() -> None:
    alone = _pod_policies()
    other = {**alone[PODS], "spec": {**alone[PODS]["spec"], "paramKind": {"kind": "ConfigMap"}}}
    with pytest.raises(ValueError, match="parameter kinds"):
        merged_policy("x", {"a": alone[POD_VOLUMES], "b": other})
    conditioned = {**alone[PODS], "spec": {**alone[PODS]["spec"], "matchConditions": [{}]}}
    with pytest.raises(ValueError, match="matchConditions"):
        merged_policy("x", {"a": conditioned})
    constraints = alone[PODS]["spec"]["matchConstraints"]
    for scope in ({"namespaceSelector": {}}, {"objectSelector": {"matchLabels": {"a": "b"}}}):
        wider = {**alone[PODS], "spec": {**alone[PODS]["spec"]}}
        wider["spec"]["matchConstraints"] = {**constraints, **scope}
        with pytest.raises(ValueError, match="bound_match"):
            merged_policy("x", {"a": alone[POD_VOLUMES], "b": wider})


@pytest.mark.parametrize(("mode", "actions"), [("Enforce", ["Deny"]), ("Audit", ["Warn", "Audit"])])
def test_bindings_follow_the_enforcement_mode(mode: str, actions: list[str]) -> None:
    spec = FRENCH.model_copy(
        update={"enforcement": FRENCH.enforcement.model_copy(update={"mode": mode})}
    )
    binding = validating_binding("french-sovereign", spec)
    assert binding["spec"]["validationActions"] == actions
    assert binding["spec"]["paramRef"] == {
        "name": "french-sovereign",
        "parameterNotFoundAction": "Deny",
    }
    assert binding["spec"]["matchResources"] == {
        "namespaceSelector": {"matchLabels": {PROFILE: "french-sovereign"}}
    }
    assert mutating_binding("french-sovereign")["spec"]["policyName"] == MUTATING_POLICY_NAME
    assert pinning("french-sovereign", spec).enforced == (mode == "Enforce")


def test_binding_names_stay_valid_object_names() -> None:
    long = "p" * 63
    assert binding_name(VALIDATING_POLICY_NAME, "french") == "souverain-placement-french"
    assert len(binding_name("x" * 250, long)) <= 253
    assert binding_name("x" * 250, long) != binding_name("x" * 250, "q" * 63)
