"""The placement admission objects: a mutating and a validating policy that read the
profile of bound namespaces, and per profile bindings whose actions follow the
enforcement mode. What they do to pods is tested in ``test_pinning.py`` and on a real
API server in ``tests/integration/test_placement.py``."""

from __future__ import annotations

import pytest

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
from souverain.labels import PROFILE
from tests.support.policies import no_namespace_selector
from tests.support.profiles import FRENCH


def test_policies_read_the_profile_and_select_bound_namespaces() -> None:
    for policy in (mutating_policy(), validating_policy()):
        spec = policy["spec"]
        assert spec["paramKind"]["kind"] == "SovereigntyProfile"
        assert spec["failurePolicy"] == "Fail"
        assert no_namespace_selector(policy)
        assert spec["matchConstraints"]["resourceRules"][0]["resources"] == ["pods"]
    assert mutating_policy()["metadata"]["name"] == MUTATING_POLICY_NAME
    assert validating_policy()["metadata"]["name"] == VALIDATING_POLICY_NAME


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
