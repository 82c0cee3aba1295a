"""The residency report built from a cluster state, without a cluster."""

from __future__ import annotations

from datetime import UTC, datetime

from souverain.report.build import build_report, egress_rules
from tests.support.cluster_state import floor, pod, state
from tests.support.profiles import SOVEREIGN


def test_pods_on_qualified_nodes_are_no_violation() -> None:
    report = build_report(state(pods={"acme": [pod("a", "sov"), pod("b", None, "Pending")]}))
    part = report.namespaces[0]
    assert [(p.name, p.compliant) for p in part.pods] == [("a", True), ("b", None)]
    assert [(n.name, n.qualified, n.zone) for n in part.nodes] == [("sov", True, "fr-1")]
    assert part.nodes[0].jurisdiction == {SOVEREIGN: "true"}
    assert part.violations == []
    assert report.summary.compliant_pods == 1


def test_pod_on_another_node_is_a_violation_seen_when_compliance_flipped() -> None:
    flipped = "2026-11-29T08:00:00Z"
    sns = state().sovereign_namespaces[0]
    sns["status"]["conditions"].append(
        {"type": "Compliant", "status": "False", "lastTransitionTime": flipped}
    )
    report = build_report(state(pods={"acme": [pod("x", "std")]}, sovereign_namespaces=[sns]))
    violation = report.namespaces[0].violations[0]
    assert violation.kind == "PodOnUnqualifiedNode"
    assert violation.object == "Pod/x"
    assert violation.seen_at == datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
    assert report.summary.non_compliant_pods == 1


def test_namespace_not_ready_is_a_violation() -> None:
    sns = {"metadata": {"name": "acme"}, "spec": {"profileName": "gone"}, "status": {}}
    report = build_report(state(sovereign_namespaces=[sns]))
    assert [v.kind for v in report.namespaces[0].violations] == ["NotReady"]


def test_egress_rules_in_words() -> None:
    policy = {
        "spec": {
            "policyTypes": ["Egress"],
            "egress": [
                {
                    "to": [{"ipBlock": {"cidr": "10.0.0.0/8", "except": ["10.1.0.0/16"]}}],
                    "ports": [{"protocol": "TCP", "port": 443}],
                },
                {"to": [{"podSelector": {}}]},
                {},
            ],
        }
    }
    assert egress_rules(policy) == [
        "10.0.0.0/8 except 10.1.0.0/16 on TCP/443",
        "all pods in this namespace",
        "any destination",
    ]
    assert egress_rules({"spec": {"policyTypes": ["Egress"]}}) == ["nothing (deny all)"]
    assert egress_rules({"spec": {"policyTypes": ["Ingress"]}}) == []


def test_each_pod_states_its_effective_egress() -> None:
    report = build_report(state(pods={"acme": [pod("a", "sov")]}))
    entry = report.namespaces[0].pods[0]
    assert entry.egress_isolated is True
    assert entry.egress_outside_profile == []
    assert any("souverain-allow-same-namespace" in d for d in entry.egress)
    assert report.summary.pods_with_egress_outside_profile == 0


def test_a_wide_policy_whoever_wrote_it_is_a_violation() -> None:
    wide = {
        "metadata": {"name": "admin-wide", "namespace": "acme"},
        "spec": {
            "podSelector": {"matchLabels": {"app": "web"}},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
        },
    }
    web = pod("web", "sov")
    web["metadata"]["labels"] = {"app": "web"}
    report = build_report(
        state(
            pods={"acme": [web, pod("other", "sov")]}, network_policies={"acme": [*floor(), wide]}
        )
    )
    entries = {p.name: p for p in report.namespaces[0].pods}
    assert entries["web"].egress_outside_profile
    assert entries["other"].egress_outside_profile == []
    violations = [v for v in report.namespaces[0].violations if v.kind == "PodEgressOutsideProfile"]
    assert [v.object for v in violations] == ["Pod/web"]
    assert "admin-wide" in violations[0].message
    assert report.summary.pods_with_egress_outside_profile == 1


def test_a_pod_no_egress_policy_selects_is_a_violation() -> None:
    report = build_report(state(pods={"acme": [pod("a", "sov")]}, network_policies={"acme": []}))
    entry = report.namespaces[0].pods[0]
    assert entry.egress_isolated is False
    assert [v.kind for v in report.namespaces[0].violations] == ["PodEgressOutsideProfile"]
