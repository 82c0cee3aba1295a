"""``souverain plan`` computed from a cluster state, without a cluster."""

from __future__ import annotations

from typing import Any

import pytest

from souverain.report.plan import describe, plan
from tests.support.cluster_state import pod, state
from tests.support.profiles import SOVEREIGN


def profile(**spec: Any) -> dict[str, Any]:
    return {
        "apiVersion": "souverain.io/v1alpha1",
        "kind": "SovereigntyProfile",
        "metadata": {"name": "fr"},
        "spec": {"nodeRequirements": [{"key": SOVEREIGN, "operator": "Exists"}], **spec},
    }


def policy(name: str, *rules: dict[str, Any], managed: bool = False) -> dict[str, Any]:
    labels = {"app.kubernetes.io/managed-by": "souverain"} if managed else {}
    return {
        "metadata": {"name": name, "labels": labels},
        "spec": {"policyTypes": ["Egress"], "egress": list(rules)},
    }


def test_tighter_node_requirements_show_the_pods_they_strand() -> None:
    current = state(pods={"acme": [pod("a", "sov"), pod("b", "std")]})
    tighter = profile(
        nodeRequirements=[
            {"key": SOVEREIGN, "operator": "Exists"},
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": ["fr-2"]},
        ]
    )
    result = plan(tighter, current)
    assert result.qualified_nodes == []
    assert result.namespaces[0].non_compliant_pods == ["a on sov", "b on std"]
    assert result.breaks_something
    assert "a on sov" in describe(result)


def test_narrower_allow_list_shows_refused_egress_and_tenant_policies() -> None:
    sns = state().sovereign_namespaces[0]
    sns["spec"]["egress"] = {"cidrs": [{"cidr": "10.1.0.0/16"}]}
    current = state(
        sovereign_namespaces=[sns],
        network_policies={
            "acme": [
                policy("floor", {"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}, managed=True),
                policy("db", {"to": [{"ipBlock": {"cidr": "10.1.2.0/24"}}]}),
                policy("all", {}),
                policy("cross", {"to": [{"namespaceSelector": {}}]}),
            ]
        },
    )
    result = plan(profile(egress={"cidrs": [{"cidr": "192.0.2.0/24"}]}), current)
    effect = result.namespaces[0]
    assert effect.refused_egress == ["10.1.0.0/16"]
    assert effect.refused_network_policies == [
        "db spec.egress[0]: 10.1.2.0/24 is outside the allow-list",
        "all spec.egress[0]: no 'to', so every destination",
        "cross spec.egress[0]: a namespaceSelector that reaches other namespaces",
    ]


def test_unchanged_profile_breaks_nothing() -> None:
    current = state(pods={"acme": [pod("a", "sov")]})
    result = plan(profile(), current)
    assert result.qualified_nodes == ["sov"]
    assert not result.breaks_something
    assert "nothing breaks" in describe(result)


def test_new_namespace_is_planned_against_its_existing_profile() -> None:
    current = state(pods={"legacy": [pod("old", "std")]})
    sns = {
        "kind": "SovereignNamespace",
        "metadata": {"name": "legacy"},
        "spec": {"profileName": "fr"},
    }
    result = plan(sns, current)
    assert result.profile == "fr"
    assert result.namespaces[0].non_compliant_pods == ["old on std"]


def test_unknown_profile_or_kind_is_an_error() -> None:
    with pytest.raises(ValueError, match="does not exist"):
        plan(
            {
                "kind": "SovereignNamespace",
                "metadata": {"name": "x"},
                "spec": {"profileName": "nope"},
            },
            state(),
        )
    with pytest.raises(ValueError, match="not ConfigMap"):
        plan({"kind": "ConfigMap", "metadata": {"name": "x"}}, state())
