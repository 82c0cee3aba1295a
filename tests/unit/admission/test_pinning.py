"""Pinning and refusal of pods, as pure functions: for any pod and profile, a pinned pod
can run exactly on the nodes that the pod allowed and the profile qualifies; nothing the
pod asked for is dropped; pinning twice changes nothing.

The same rules as admission policies are tested on a real API server in
``tests/integration/test_placement.py``."""

from __future__ import annotations

import base64
import copy
import json
from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from souverain.admission.pinning import (
    binding_refusal,
    encoded_patch,
    is_pinned,
    pin,
    pin_patch,
    pinning,
    refusals,
)
from souverain.api import SovereigntyProfileSpec
from souverain.reconcile.qualification import qualifies
from tests.support.profiles import FRENCH, SOVEREIGN

KEYS = ["sov", "region", "zone", "tier"]
VALUES = ["a", "b", "1", "7"]


# -- node selector semantics, as the scheduler applies them --------------------------


def _expression_matches(expression: Mapping[str, Any], labels: Mapping[str, str]) -> bool:
    key, operator = expression["key"], expression["operator"]
    values = expression.get("values") or []
    present = key in labels
    if operator == "In":
        return present and labels[key] in values
    if operator == "NotIn":
        return not present or labels[key] not in values
    if operator == "Exists":
        return present
    if operator == "DoesNotExist":
        return not present
    if not present or not labels[key].isdigit():
        return False
    number, bound = int(labels[key]), int(values[0])
    return number > bound if operator == "Gt" else number < bound


def _term_matches(term: Mapping[str, Any], name: str, labels: Mapping[str, str]) -> bool:
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term matches no node
    return all(_expression_matches(e, labels) for e in expressions) and all(
        _expression_matches({**f, "key": "metadata.name"}, {"metadata.name": name}) for f in fields
    )


def schedulable(pod_spec: Mapping[str, Any], name: str, labels: Mapping[str, str]) -> bool:
    """Whether the pod's required node affinity and node selector allow the node."""
    selector = pod_spec.get("nodeSelector") or {}
    if any(labels.get(k) != v for k, v in selector.items()):
        return False
    affinity = (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    return not terms or any(_term_matches(term, name, labels) for term in terms)


# -- strategies ----------------------------------------------------------------------

set_operator = st.sampled_from(["In", "NotIn"])
value_list = st.lists(st.sampled_from(VALUES), min_size=1, max_size=3, unique=True)


@st.composite
def pod_expression(draw: st.DrawFn) -> dict[str, Any]:
    key = draw(st.sampled_from(KEYS))
    operator = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist", "Gt", "Lt"]))
    if operator in ("In", "NotIn"):
        return {"key": key, "operator": operator, "values": draw(value_list)}
    if operator in ("Gt", "Lt"):
        return {"key": key, "operator": operator, "values": [draw(st.sampled_from(["1", "7"]))]}
    return {"key": key, "operator": operator}


@st.composite
def term(draw: st.DrawFn) -> dict[str, Any]:
    found: dict[str, Any] = {}
    expressions = draw(st.lists(pod_expression(), max_size=3))
    if expressions or draw(st.booleans()):
        found["matchExpressions"] = expressions
    if draw(st.booleans()):
        found["matchFields"] = [
            {"key": "metadata.name", "operator": draw(set_operator), "values": draw(node_names)}
        ]
    return found


node_names = st.lists(st.sampled_from(["n1", "n2", "n3"]), min_size=1, max_size=2, unique=True)
toleration = st.builds(
    lambda key, effect: {"key": key, "operator": "Exists", "effect": effect},
    st.sampled_from(["dedicated", "gpu"]),
    st.sampled_from(["NoSchedule", "NoExecute"]),
)


@st.composite
def pod_spec(draw: st.DrawFn) -> dict[str, Any]:
    spec: dict[str, Any] = {"containers": [{"name": "app", "image": "registry.example/app:1"}]}
    shape = draw(st.sampled_from(["none", "empty-affinity", "preferred", "required"]))
    if shape == "empty-affinity":
        spec["affinity"] = {"podAntiAffinity": {}}
    elif shape == "preferred":
        spec["affinity"] = {
            "nodeAffinity": {
                "preferredDuringSchedulingIgnoredDuringExecution": [
                    {"weight": 10, "preference": {"matchExpressions": [draw(pod_expression())]}}
                ]
            }
        }
    elif shape == "required":
        spec["affinity"] = {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": draw(st.lists(term(), min_size=1, max_size=3))
                }
            }
        }
    if draw(st.booleans()):
        spec["nodeSelector"] = {draw(st.sampled_from(KEYS)): draw(st.sampled_from(VALUES))}
    if draw(st.booleans()):
        spec["tolerations"] = draw(st.lists(toleration, max_size=2))
    return spec


@st.composite
def profile(draw: st.DrawFn) -> SovereigntyProfileSpec:
    requirements = []
    for key in draw(st.lists(st.sampled_from(KEYS), min_size=1, max_size=2, unique=True)):
        operator = draw(st.sampled_from(["In", "NotIn", "Exists", "DoesNotExist"]))
        requirement: dict[str, Any] = {"key": key, "operator": operator}
        if operator in ("In", "NotIn"):
            requirement["values"] = draw(value_list)
        requirements.append(requirement)
    tolerations = draw(st.lists(toleration, max_size=2, unique_by=lambda t: str(t)))
    return SovereigntyProfileSpec.model_validate(
        {"nodeRequirements": requirements, "tolerations": tolerations}
    )


node = st.tuples(
    st.sampled_from(["n1", "n2", "n3"]),
    st.dictionaries(st.sampled_from(KEYS), st.sampled_from(VALUES), max_size=4),
)


# -- properties ----------------------------------------------------------------------


@settings(max_examples=400)
@given(pod_spec(), profile(), st.lists(node, min_size=1, max_size=6))
def test_pinned_pod_runs_exactly_where_pod_and_profile_both_allow(
    spec: dict[str, Any], profile_spec: SovereigntyProfileSpec, nodes: list[Any]
) -> None:
    pinned = pin(spec, pinning("p", profile_spec))
    for name, labels in nodes:
        assert schedulable(pinned, name, labels) == (
            schedulable(spec, name, labels) and qualifies(labels, profile_spec.node_requirements)
        ), (name, labels, pinned)


@settings(max_examples=300)
@given(pod_spec(), profile())
def test_pinning_keeps_what_the_pod_asked_for_and_is_stable(
    spec: dict[str, Any], profile_spec: SovereigntyProfileSpec
) -> None:
    original = copy.deepcopy(spec)
    pins = pinning("p", profile_spec)
    pinned = pin(spec, pins)
    assert spec == original, "the input is not changed in place"
    assert is_pinned(pinned, pins)
    assert pin(pinned, pins) == pinned
    assert pin_patch(pinned, pins) == []
    assert {k: v for k, v in pinned.items() if k not in ("affinity", "tolerations")} == {
        k: v for k, v in spec.items() if k not in ("affinity", "tolerations")
    }
    kept_tolerations = pinned.get("tolerations") or []
    assert kept_tolerations[: len(spec.get("tolerations") or [])] == (spec.get("tolerations") or [])
    assert all(t in kept_tolerations for t in pins.tolerations)
    before = (spec.get("affinity") or {}).get("nodeAffinity") or {}
    after = pinned["affinity"]["nodeAffinity"]
    assert after.get("preferredDuringSchedulingIgnoredDuringExecution") == before.get(
        "preferredDuringSchedulingIgnoredDuringExecution"
    )
    old_terms = (before.get("requiredDuringSchedulingIgnoredDuringExecution") or {}).get(
        "nodeSelectorTerms"
    ) or []
    new_terms = after["requiredDuringSchedulingIgnoredDuringExecution"]["nodeSelectorTerms"]
    if old_terms:
        assert len(new_terms) == len(old_terms)
        for old, new in zip(old_terms, new_terms, strict=True):
            assert new.get("matchFields") == old.get("matchFields")
            kept = old.get("matchExpressions") or []
            assert (new.get("matchExpressions") or [])[: len(kept)] == kept


@given(pod_spec(), profile())
def test_the_patch_turns_the_pod_into_its_pinned_form(
    spec: dict[str, Any], profile_spec: SovereigntyProfileSpec
) -> None:
    pins = pinning("p", profile_spec)
    patched = copy.deepcopy(spec)
    for operation in pin_patch(spec, pins):
        assert operation["op"] == "add"
        patched[operation["path"].removeprefix("/spec/")] = operation["value"]
    assert patched == pin(spec, pins)


@given(pod_spec(), profile())
def test_the_encoded_patch_is_the_patch(
    spec: dict[str, Any], profile_spec: SovereigntyProfileSpec
) -> None:
    """Also when it is the profile's patch encoded once, for a pod without affinity."""
    pins = pinning("p", profile_spec)
    found = encoded_patch(spec, pins, pin(spec, pins))
    patch = pin_patch(spec, pins)
    assert (json.loads(base64.b64decode(found)) if found is not None else []) == patch
    assert (found is None) == (patch == [])


@given(pod_spec(), profile())
def test_refusals_are_empty_exactly_for_pinned_pods(
    spec: dict[str, Any], profile_spec: SovereigntyProfileSpec
) -> None:
    pins = pinning("p", profile_spec)
    assert (refusals(spec, pins, lambda _: True) == []) == is_pinned(spec, pins)
    assert refusals(pin(spec, pins), pins, lambda _: True) == []


# -- examples ------------------------------------------------------------------------


def test_an_ored_term_towards_other_nodes_gets_the_requirement_too() -> None:
    spec = {
        "affinity": {
            "nodeAffinity": {
                "requiredDuringSchedulingIgnoredDuringExecution": {
                    "nodeSelectorTerms": [
                        {
                            "matchExpressions": [
                                {"key": SOVEREIGN, "operator": "In", "values": ["true"]}
                            ]
                        },
                        {
                            "matchFields": [
                                {"key": "metadata.name", "operator": "In", "values": ["std-us-1"]}
                            ]
                        },
                    ]
                }
            }
        }
    }
    pins = pinning("french-sovereign", FRENCH)
    assert not is_pinned(spec, pins)
    [refusal] = refusals(spec, pins, lambda _: True)
    assert "nodeSelectorTerms[1] does not require" in refusal
    assert f"{SOVEREIGN} In (true)" in refusal
    pinned = pin(spec, pins)
    terms = pinned["affinity"]["nodeAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms["nodeSelectorTerms"][1]["matchExpressions"] == [
        {"key": SOVEREIGN, "operator": "In", "values": ["true"]}
    ]
    assert pinned["tolerations"] == [
        {"key": "dedicated", "operator": "Equal", "value": "sovereign", "effect": "NoSchedule"}
    ]


def test_host_network_and_a_node_that_does_not_qualify_are_refused() -> None:
    pins = pinning("french-sovereign", FRENCH)
    spec = pin({"hostNetwork": True, "nodeName": "std-us-1"}, pins)
    found = refusals(spec, pins, lambda name: name.startswith("sov-"))
    assert len(found) == 2
    assert "hostNetwork" in found[0]
    assert "spec.nodeName std-us-1 does not meet" in found[1]
    assert refusals({**spec, "hostNetwork": False, "nodeName": "sov-fr-1"}, pins, bool) == []
    assert binding_refusal("sov-fr-1", pins, lambda name: name.startswith("sov-")) is None
    refusal = binding_refusal("std-us-1", pins, lambda name: name.startswith("sov-"))
    assert refusal is not None
    assert "std-us-1 does not meet" in refusal
