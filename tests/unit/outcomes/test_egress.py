"""The effective egress of a pod, computed from the NetworkPolicies that select it, and
what of it lies past the profile's floor. The evaluator is checked here against the
floor the operator writes, against tenant policies of known outcome, and, for the
address arithmetic, against brute force on small spaces."""

from __future__ import annotations

import ipaddress
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from souverain.api import EgressRules, ProfileEgress
from souverain.outcomes.egress import (
    Box,
    Floor,
    address_boxes,
    effective_egress,
    port_ranges,
    selects_nothing,
    selects_only,
    uncovered,
)
from souverain.reconcile.egress import egress_floor

NETWORKS: tuple[dict[str, Any], ...] = (
    {
        "cidr": "10.0.0.0/8",
        "except": ["10.255.0.0/16"],
        "ports": [{"protocol": "TCP", "port": 443}],
    },
    {"cidr": "192.0.2.0/25"},
    {"cidr": "192.0.2.128/25"},
)
FLOOR = Floor("fr", "tenant", True, NETWORKS)


def operator_policies() -> list[dict[str, Any]]:
    profile = ProfileEgress.model_validate({"allowDNS": True, "cidrs": list(NETWORKS)})
    policies = egress_floor("tenant", profile, EgressRules())
    for policy in policies:
        policy["metadata"]["namespace"] = "tenant"
    return policies


def policy(name: str, egress: list[dict[str, Any]] | None, **spec: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"podSelector": {}, "policyTypes": ["Egress"], **spec}
    if egress is not None:
        body["egress"] = egress
    return {"metadata": {"name": name, "namespace": "tenant"}, "spec": body}


def escapes(*extra: dict[str, Any], labels: dict[str, str] | None = None) -> list[str]:
    return effective_egress(labels or {"app": "web"}, [*operator_policies(), *extra], FLOOR).escapes


def test_the_operators_floor_isolates_every_pod_and_reaches_nothing_past_the_profile() -> None:
    outcome = effective_egress({"app": "web"}, operator_policies(), FLOOR)
    assert outcome.isolated
    assert outcome.escapes == []
    assert "souverain-deny-egress" in outcome.policies


def test_without_an_egress_policy_a_pod_reaches_everything() -> None:
    ingress_only = policy("ingress", None, policyTypes=["Ingress"])
    outcome = effective_egress({}, [ingress_only], FLOOR)
    assert not outcome.isolated
    assert outcome.escapes


def test_a_policy_selecting_other_pods_leaves_this_one_open() -> None:
    narrow = policy("deny-db", None, podSelector={"matchLabels": {"app": "db"}})
    assert not effective_egress({"app": "web"}, [narrow], FLOOR).isolated
    assert effective_egress({"app": "db"}, [narrow], FLOOR).isolated


def test_equivalent_namespace_selectors_stay_inside() -> None:
    forms = [
        {"matchLabels": {"souverain.io/profile": "fr"}},
        {"matchExpressions": [{"key": "souverain.io/profile", "operator": "In", "values": ["fr"]}]},
        {"matchLabels": {"kubernetes.io/metadata.name": "tenant"}},
        {"matchLabels": {"souverain.io/profile": "fr", "team": "a"}},
        # Selects nothing at all.
        {
            "matchExpressions": [{"key": "team", "operator": "DoesNotExist"}],
            "matchLabels": {"team": "a"},
        },
    ]
    for form in forms:
        assert escapes(policy("p", [{"to": [{"namespaceSelector": form}]}])) == [], form


def test_selectors_that_reach_other_namespaces_escape() -> None:
    forms = [
        {},
        {"matchExpressions": [{"key": "souverain.io/profile", "operator": "Exists"}]},
        {
            "matchExpressions": [
                {"key": "souverain.io/profile", "operator": "NotIn", "values": ["x"]}
            ]
        },
        {
            "matchExpressions": [
                {"key": "souverain.io/profile", "operator": "In", "values": ["fr", "us"]}
            ]
        },
        {"matchLabels": {"kubernetes.io/metadata.name": "other"}},
    ]
    for form in forms:
        assert escapes(policy("p", [{"to": [{"namespaceSelector": form}]}])), form


def test_addresses_are_compared_as_sets_with_ports() -> None:
    inside = [
        {"to": [{"ipBlock": {"cidr": "10.1.0.0/16"}}], "ports": [{"protocol": "TCP", "port": 443}]},
        # Two networks of the profile together cover a /24 neither covers alone.
        {"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]},
        {
            "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.255.0.0/16"]}}],
            "ports": [{"port": 443}],
        },
    ]
    for rule in inside:
        assert escapes(policy("p", [rule])) == [], rule
    outside = [
        {"to": [{"ipBlock": {"cidr": "10.1.0.0/16"}}]},
        {"to": [{"ipBlock": {"cidr": "10.0.0.0/8"}}], "ports": [{"port": 443}]},
        {"to": [{"ipBlock": {"cidr": "10.1.0.0/16"}}], "ports": [{"port": "https"}]},
        {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]},
        {"ports": [{"port": 443}]},
    ]
    for rule in outside:
        assert escapes(policy("p", [rule])), rule


def test_egress_rules_of_a_policy_that_is_not_of_type_egress_are_ignored() -> None:
    wide = policy("p", [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}], policyTypes=["Ingress"])
    assert escapes(wide) == []


def test_the_cluster_dns_is_inside_only_on_port_53() -> None:
    dns = {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
        "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
    }
    assert escapes(policy("p", [{"to": [dns], "ports": [{"protocol": "UDP", "port": 53}]}])) == []
    assert escapes(policy("p", [{"to": [dns]}]))


def test_selector_reading() -> None:
    assert selects_nothing(
        {
            "matchExpressions": [
                {"key": "a", "operator": "In", "values": ["x"]},
                {"key": "a", "operator": "NotIn", "values": ["x"]},
            ]
        }
    )
    assert not selects_nothing({"matchLabels": {"a": "x"}})
    assert selects_only({"matchLabels": {"a": "x"}}, "a", "x")
    assert not selects_only({"matchLabels": {"b": "x"}}, "a", "x")


SMALL = ipaddress.ip_network("10.0.0.0/28")
blocks = st.builds(
    lambda address, length: str(ipaddress.ip_network(f"{address}/{length}", strict=False)),
    st.integers(0, 15).map(lambda i: SMALL[i]),
    st.integers(28, 32),
)
ports = st.lists(
    st.tuples(st.sampled_from(["TCP", "UDP"]), st.integers(1, 6), st.integers(0, 3)).map(
        lambda t: {"protocol": t[0], "port": t[1], "endPort": t[1] + t[2]}
    ),
    max_size=2,
)


def points(boxes: list[Box]) -> set[tuple[str, int, int]]:
    return {
        (box.protocol, port, address)
        for box in boxes
        for port in range(box.low, min(box.high, 8) + 1)
        for address in range(box.first, box.last + 1)
    }


@settings(max_examples=300, deadline=None)
@given(
    st.tuples(blocks, st.lists(blocks, max_size=2), ports),
    st.lists(st.tuples(blocks, st.lists(blocks, max_size=2), ports), max_size=3),
)
def test_uncovered_traffic_matches_brute_force(
    rule: tuple[str, list[str], list[dict[str, Any]]],
    cover: list[tuple[str, list[str], list[dict[str, Any]]]],
) -> None:
    def boxes(entry: tuple[str, list[str], list[dict[str, Any]]]) -> list[Box]:
        # Ports only up to 8 are compared, so every port is clipped to that space too.
        ranges = [(p, low, min(high, 8)) for p, low, high in port_ranges(entry[2]) if p != "SCTP"]
        return address_boxes(entry[0], entry[1], ranges)

    wanted = points(boxes(rule)) - points([b for entry in cover for b in boxes(entry)])
    left = uncovered(boxes(rule), [b for entry in cover for b in boxes(entry)])
    assert points(left) == wanted
