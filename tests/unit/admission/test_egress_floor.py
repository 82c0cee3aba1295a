"""The egress-floor admission objects: one static policy that lets the operator and
cluster administrators through, one binding per profile whose actions follow the
profile's enforcement mode, and binding names that stay valid for any profile name.

What the policy refuses is tested on a real API server in
``tests/integration/test_egress_floor.py``."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from souverain import API_GROUP, API_VERSION
from souverain.admission.egress_floor import (
    POLICY_NAME,
    egress_floor_binding,
    egress_floor_binding_name,
    egress_floor_policy,
)
from souverain.api import SovereigntyProfileSpec
from souverain.api.names import DNS_SUBDOMAIN_PATTERN
from souverain.labels import MANAGED_BY, PROFILE

OPERATOR = "system:serviceaccount:souverain-system:souverain"
PREFIX = f"{POLICY_NAME}-"


def profile_spec(mode: str = "Enforce") -> SovereigntyProfileSpec:
    return SovereigntyProfileSpec.model_validate(
        {
            "nodeRequirements": [
                {
                    "key": "node-restriction.kubernetes.io/french-sovereign",
                    "operator": "In",
                    "values": ["true"],
                }
            ],
            "egress": {
                "cidrs": [{"cidr": "192.0.2.0/24", "ports": [{"protocol": "TCP", "port": 443}]}]
            },
            "enforcement": {"mode": mode},
        }
    )


def is_object_name(name: str) -> bool:
    """Whether ``name`` is a DNS subdomain, as the API server requires of these objects."""
    return len(name) <= 253 and re.fullmatch(DNS_SUBDOMAIN_PATTERN, name) is not None


def conditions(policy: dict[str, Any]) -> dict[str, str]:
    return {
        condition["name"]: condition["expression"]
        for condition in policy["spec"]["matchConditions"]
    }


def expressions(policy: dict[str, Any]) -> list[str]:
    """Every CEL expression of the policy."""
    spec = policy["spec"]
    return [
        *conditions(policy).values(),
        *(variable["expression"] for variable in spec["variables"]),
        *(validation["expression"] for validation in spec["validations"]),
        *(validation["messageExpression"] for validation in spec["validations"]),
    ]


# -- the policy ---------------------------------------------------------------


def test_policy_checks_network_policy_writes_in_bound_namespaces() -> None:
    policy = egress_floor_policy(OPERATOR)

    assert policy["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert policy["kind"] == "ValidatingAdmissionPolicy"
    assert policy["metadata"]["name"] == POLICY_NAME
    spec = policy["spec"]
    assert spec["failurePolicy"] == "Fail"
    assert spec["matchConstraints"]["resourceRules"] == [
        {
            "apiGroups": ["networking.k8s.io"],
            "apiVersions": ["v1"],
            "operations": ["CREATE", "UPDATE"],
            "resources": ["networkpolicies"],
        }
    ]
    assert spec["matchConstraints"]["namespaceSelector"] == {
        "matchExpressions": [{"key": PROFILE, "operator": "Exists"}]
    }


def test_policy_reads_the_allow_list_from_the_profile_it_is_bound_with() -> None:
    spec = egress_floor_policy(OPERATOR)["spec"]

    assert spec["paramKind"] == {
        "apiVersion": f"{API_GROUP}/{API_VERSION}",
        "kind": "SovereigntyProfile",
    }
    variables = {variable["name"]: variable["expression"] for variable in spec["variables"]}
    assert "params.spec.?egress.?cidrs" in variables["allowed"]
    assert variables["profile"] == "params.metadata.name"


def test_policy_refuses_with_a_message_built_from_the_request() -> None:
    (validation,) = egress_floor_policy(OPERATOR)["spec"]["validations"]

    assert validation["reason"] == "Forbidden"
    assert validation["message"], "the fallback when the message expression fails"
    assert "variables.refusals" in validation["messageExpression"]


def test_operator_and_cluster_admins_are_let_through() -> None:
    matched = conditions(egress_floor_policy(OPERATOR))

    assert matched["not-the-operator"] == f'request.userInfo.username != "{OPERATOR}"'
    assert '!("system:masters" in request.userInfo.groups)' in matched["not-a-cluster-admin"]


def test_updates_that_leave_the_spec_alone_are_let_through() -> None:
    matched = conditions(egress_floor_policy(OPERATOR))

    assert matched["spec-written"] == (
        "request.operation != 'UPDATE' || object.spec != oldObject.spec"
    )


@pytest.mark.parametrize(
    "username",
    [
        pytest.param('user"with"quotes', id="double-quotes"),
        pytest.param("user'with'quotes", id="single-quotes"),
        pytest.param("back\\slash", id="backslash"),
        pytest.param("opérateur-souverain", id="non-ascii"),
    ],
)
def test_operator_username_is_quoted_as_a_cel_string(username: str) -> None:
    expression = conditions(egress_floor_policy(username))["not-the-operator"]

    literal = expression.removeprefix("request.userInfo.username != ")
    assert json.loads(literal) == username


def test_policy_differs_between_operators_only_in_the_username() -> None:
    one = egress_floor_policy(OPERATOR)
    other = egress_floor_policy("system:serviceaccount:platform:souverain")

    one_conditions = one["spec"].pop("matchConditions")
    other_conditions = other["spec"].pop("matchConditions")
    assert one == other
    assert [c for c in one_conditions if c["name"] != "not-the-operator"] == [
        c for c in other_conditions if c["name"] != "not-the-operator"
    ]


def test_policy_does_not_trust_the_managed_by_label() -> None:
    # Tenants can set any label on their own NetworkPolicies.
    for expression in expressions(egress_floor_policy(OPERATOR)):
        assert MANAGED_BY not in expression
        assert "object.metadata" not in expression


# -- one binding per profile --------------------------------------------------


def test_binding_hands_the_profile_to_the_policy_for_its_namespaces() -> None:
    binding = egress_floor_binding("french-sovereign", profile_spec())

    assert binding["apiVersion"] == "admissionregistration.k8s.io/v1"
    assert binding["kind"] == "ValidatingAdmissionPolicyBinding"
    assert binding["metadata"]["name"] == "souverain-egress-floor-french-sovereign"
    assert binding["metadata"]["labels"][PROFILE] == "french-sovereign"
    spec = binding["spec"]
    assert spec["policyName"] == POLICY_NAME
    assert spec["paramRef"] == {"name": "french-sovereign", "parameterNotFoundAction": "Deny"}
    assert spec["matchResources"] == {
        "namespaceSelector": {"matchLabels": {PROFILE: "french-sovereign"}}
    }


@pytest.mark.parametrize(
    ("mode", "actions"),
    [
        pytest.param("Enforce", ["Deny"], id="enforce-refuses"),
        pytest.param("Audit", ["Warn", "Audit"], id="audit-warns-and-records"),
    ],
)
def test_binding_actions_follow_the_enforcement_mode(mode: str, actions: list[str]) -> None:
    binding = egress_floor_binding("french-sovereign", profile_spec(mode))

    assert binding["spec"]["validationActions"] == actions


def test_binding_does_not_change_with_the_allow_list() -> None:
    # The policy reads the allow-list from the profile itself: editing it needs no new binding.
    no_networks = profile_spec()
    no_networks.egress.cidrs.clear()

    assert egress_floor_binding("p", no_networks) == egress_floor_binding("p", profile_spec())


def test_profile_that_no_namespace_label_can_name_has_no_binding() -> None:
    name = "a" * 64

    with pytest.raises(ValueError, match=f"{PROFILE} label value holds at most 63"):
        egress_floor_binding(name, profile_spec())


def test_longest_profile_a_label_can_name_is_bound() -> None:
    name = "a" * 63

    binding = egress_floor_binding(name, profile_spec())

    assert binding["metadata"]["name"] == PREFIX + name
    assert binding["spec"]["paramRef"]["name"] == name


# -- binding names ------------------------------------------------------------


def test_binding_name_reads_as_policy_and_profile() -> None:
    assert egress_floor_binding_name("french-sovereign") == (
        "souverain-egress-floor-french-sovereign"
    )


def test_binding_name_that_fits_is_kept_whole() -> None:
    name = "p" * (253 - len(PREFIX))

    assert egress_floor_binding_name(name) == PREFIX + name


def test_long_profile_names_get_distinct_valid_binding_names() -> None:
    one = "p" * 252 + "a"
    other = "p" * 252 + "b"

    names = {egress_floor_binding_name(one), egress_floor_binding_name(other)}

    assert len(names) == 2
    assert all(is_object_name(name) and name.startswith(PREFIX) for name in names)


@pytest.mark.parametrize("separator", [".", "-"])
def test_cut_that_falls_on_a_separator_still_gives_a_valid_name(separator: str) -> None:
    # The name is cut to 242 characters before the hash: the profile's 219th character.
    profile = "p" * 218 + separator + "q" * 34

    name = egress_floor_binding_name(profile)

    assert is_object_name(name), name


_LABELS = st.from_regex(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?", fullmatch=True)
PROFILE_NAMES = st.lists(_LABELS, min_size=1, max_size=8).map(".".join).filter(is_object_name)


@given(st.lists(PROFILE_NAMES, min_size=1, max_size=4, unique=True))
def test_binding_names_are_valid_and_distinct_for_any_profile_names(profiles: list[str]) -> None:
    names = [egress_floor_binding_name(profile) for profile in profiles]

    assert all(is_object_name(name) for name in names), names
    assert len(set(names)) == len(profiles)
    assert names == [egress_floor_binding_name(profile) for profile in profiles]
