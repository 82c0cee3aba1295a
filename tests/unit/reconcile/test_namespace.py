"""The plan of a SovereignNamespace: objects, labels and conditions from spec and profile."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from pydantic import ValidationError

from souverain import labels
from souverain.api import SovereignNamespace, SovereigntyProfileSpec
from souverain.api.profile import PodSecurity
from souverain.reconcile import egress
from souverain.reconcile.namespace import Capabilities, holds, plan_namespace

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)
PROFILE = SovereigntyProfileSpec.model_validate(
    {
        "nodeRequirements": [
            {"key": "node-restriction.kubernetes.io/french-sovereign", "operator": "Exists"}
        ],
        "egress": {
            "cidrs": [{"cidr": "10.0.0.0/8", "ports": [{"port": 443}]}],
            "fqdns": [{"pattern": "*.gouv.fr"}],
        },
    }
)


def tenant(**spec: Any) -> SovereignNamespace:
    return SovereignNamespace.model_validate(
        {
            "metadata": {"name": "acme", "uid": "u-1", "generation": 3},
            "spec": {"profileName": "fr", "owners": [{"kind": "Group", "name": "team"}], **spec},
        }
    )


def kinds(plan: Any) -> dict[str, dict[str, Any]]:
    return {f"{c['kind']}/{c['metadata']['name']}": c for c in plan.children}


def test_plan_creates_namespace_owners_and_floor() -> None:
    plan = plan_namespace(tenant(labels={"team": "a"}), PROFILE, None, Capabilities(), NOW)
    assert plan.namespace is not None
    assert plan.namespace["metadata"]["labels"] == {
        "team": "a",
        labels.PROFILE: "fr",
        labels.SOVEREIGN_NAMESPACE: "acme",
        labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
        labels.POD_SECURITY_ENFORCE: "baseline",
        labels.POD_SECURITY_ENFORCE_VERSION: "latest",
        labels.POD_SECURITY_WARN: "baseline",
        labels.POD_SECURITY_WARN_VERSION: "latest",
    }
    children = kinds(plan)
    # The owners' binding waits until the API server is seen enforcing the namespace.
    assert "RoleBinding/souverain-owners" not in children
    assert plan.owners is not None
    assert plan.owners["subjects"] == [
        {"kind": "Group", "name": "team", "apiGroup": "rbac.authorization.k8s.io"}
    ]
    assert children["RoleBinding/souverain-probe"]["subjects"] == [
        {"kind": "User", "name": "souverain:probe", "apiGroup": "rbac.authorization.k8s.io"}
    ]
    for child in [*children.values(), plan.owners]:
        assert child["metadata"]["namespace"] == "acme"
        assert child["metadata"]["labels"][labels.SOVEREIGN_NAMESPACE] == "acme"
        assert child["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert [c.type for c in plan.conditions] == ["NamespaceReady", "EgressRestricted"]
    assert plan.conditions[0].reason == "NamespaceCreated"
    assert plan.conditions[1].reason == "EgressPartiallyEnforced"
    assert plan.unenforceable_egress == ["fqdn *.gouv.fr"]
    assert all(c.observed_generation == 3 for c in plan.conditions)


def test_adopted_namespace_keeps_its_manager() -> None:
    observed = {"metadata": {"name": "acme", "labels": {labels.MANAGED_BY: "helm"}}}
    plan = plan_namespace(tenant(), PROFILE, observed, Capabilities(), NOW)
    assert plan.namespace is not None
    assert labels.MANAGED_BY not in plan.namespace["metadata"]["labels"]
    assert plan.conditions[0].reason == "Reconciled"


def test_missing_profile_touches_nothing() -> None:
    plan = plan_namespace(tenant(), None, None, Capabilities(), NOW)
    assert plan.namespace is None
    assert plan.children == []
    assert {c.reason for c in plan.conditions} == {"ProfileNotFound"}


def test_a_profile_being_deleted_keeps_everything_in_force_and_says_so() -> None:
    kept = plan_namespace(tenant(), PROFILE, None, Capabilities(), NOW)
    plan = plan_namespace(tenant(), PROFILE, None, Capabilities(), NOW, profile_deleting=True)
    assert plan.namespace == kept.namespace
    assert plan.children == kept.children
    assert plan.conditions[0].status == "True"
    assert plan.conditions[0].reason == "ProfileDeleting"
    assert "stays in force" in plan.conditions[0].message
    assert plan.conditions[1:] == kept.conditions[1:]


def test_terminating_namespace_is_left_alone() -> None:
    observed = {"metadata": {"name": "acme", "deletionTimestamp": "2026-11-30T00:00:00Z"}}
    plan = plan_namespace(tenant(), PROFILE, observed, Capabilities(), NOW)
    assert plan.namespace is None
    assert plan.conditions[0].reason == "NamespaceTerminating"


def test_extra_egress_outside_profile_is_left_out_and_reported() -> None:
    spec = {
        "egress": {
            "cidrs": [{"cidr": "10.1.0.0/16", "ports": [{"port": 443}]}, {"cidr": "192.168.0.0/16"}]
        }
    }
    plan = plan_namespace(tenant(**spec), PROFILE, None, Capabilities(), NOW)
    extra = kinds(plan)[f"NetworkPolicy/{egress.ALLOW_EXTRA}"]
    assert [r["to"][0]["ipBlock"]["cidr"] for r in extra["spec"]["egress"]] == ["10.1.0.0/16"]
    assert plan.refused_egress == ["192.168.0.0/16"]
    egress_condition = plan.conditions[1]
    assert (egress_condition.status, egress_condition.reason) == ("False", "EgressOutsideProfile")
    assert "192.168.0.0/16" in egress_condition.message


def test_cilium_takes_the_fqdn_rules() -> None:
    plan = plan_namespace(tenant(), PROFILE, None, Capabilities(cilium=True), NOW)
    assert f"CiliumNetworkPolicy/{egress.FQDN_POLICY}" in kinds(plan)
    assert "CiliumNetworkPolicy" in plan.enforcement_layers
    assert plan.unenforceable_egress == []
    assert plan.conditions[1].reason == "NetworkPolicyApplied"


def test_planning_twice_gives_the_same_objects() -> None:
    first = plan_namespace(tenant(), PROFILE, None, Capabilities(), NOW)
    second = plan_namespace(tenant(), PROFILE, None, Capabilities(), NOW)
    assert first == second


def test_holds_ignores_server_defaults_but_not_additions() -> None:
    desired = {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": "n", "labels": {"a": "b"}},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"]},
    }
    stored = {
        "metadata": {"name": "n", "labels": {"a": "b", "extra": "x"}, "uid": "1"},
        "spec": {"policyTypes": ["Egress"], "podSelector": {}, "egress": []},
    }
    assert holds(desired, stored)
    widened = {**stored, "spec": {**stored["spec"], "egress": [{"to": []}, {}]}}
    assert not holds(desired, widened)
    relabelled = {**stored, "metadata": {"name": "n", "labels": {}}}
    assert not holds(desired, relabelled)


def test_the_profile_s_pod_security_level_is_the_namespace_s() -> None:
    strict = PROFILE.model_copy(
        update={"pod_security": PodSecurity(level="restricted", version="v1.35")}
    )
    plan = plan_namespace(tenant(), strict, None, Capabilities(), NOW)
    assert plan.namespace is not None
    found = plan.namespace["metadata"]["labels"]
    assert found[labels.POD_SECURITY_ENFORCE] == "restricted"
    assert found[labels.POD_SECURITY_ENFORCE_VERSION] == "v1.35"
    assert found[labels.POD_SECURITY_WARN] == "restricted"
    ready = next(c for c in plan.conditions if c.type == "NamespaceReady")
    assert "Pod Security level restricted (v1.35)" in ready.message


def test_a_sovereign_namespace_cannot_ask_for_pod_security_labels() -> None:
    with pytest.raises(ValidationError, match=r"spec\.podSecurity"):
        tenant(labels={"pod-security.kubernetes.io/enforce": "privileged"})
