"""What every profile policy shares: its conditions folded into one variable."""

from __future__ import annotations

import pytest

from souverain.admission.egress_floor import egress_floor_policy
from souverain.admission.exposure import exposure_policies
from souverain.admission.images import images_policies
from souverain.admission.placement import validating_policy
from souverain.admission.policy import EXEMPT, PROBE_USER, exempt_variable
from souverain.admission.snapshots import snapshot_policies
from souverain.admission.storage import storage_policies
from tests.support.policies import exempt_conditions, selects_bound_namespaces

pytestmark = pytest.mark.unit

OPERATOR = "system:serviceaccount:souverain-system:souverain"
PROFILE_POLICIES = [
    *storage_policies(OPERATOR),
    *images_policies(OPERATOR),
    *snapshot_policies(OPERATOR),
    *exposure_policies(OPERATOR),
]


def test_the_exempt_variable_holds_when_any_condition_fails() -> None:
    variable = exempt_variable(
        [{"name": "one", "expression": "a == 1"}, {"name": "two", "expression": "b"}]
    )
    assert variable == {"name": EXEMPT, "expression": "// one\n!(a == 1)\n|| // two\n!(b)"}
    assert exempt_variable([])["expression"] == "false"


@pytest.mark.parametrize("policy", PROFILE_POLICIES, ids=lambda p: p["metadata"]["name"])
def test_profile_policies_fold_their_conditions_and_match_bound_namespaces_only(
    policy: dict[str, object],
) -> None:
    spec = policy["spec"]
    assert isinstance(spec, dict)
    # One evaluation per request, not one for match conditions and one for validations.
    assert "matchConditions" not in spec
    assert spec["variables"][0]["name"] == EXEMPT
    assert {"not-the-operator", "not-a-cluster-admin"} <= set(exempt_conditions(policy))
    for validation in spec["validations"]:
        assert validation["expression"].startswith(f"variables.{EXEMPT} || (")
    assert selects_bound_namespaces(policy)


def test_profile_policies_name_the_generation_they_judged_with_to_the_probe_only() -> None:
    policies = [*PROFILE_POLICIES, egress_floor_policy(OPERATOR), validating_policy(OPERATOR)]
    for policy in policies:
        for validation in policy["spec"]["validations"]:
            message = validation["messageExpression"]
            assert message.count("params.metadata.generation") == 1, message
            assert f'request.userInfo.username == "{PROBE_USER}"' in message
