"""A cluster's state as ``souverain report`` and ``souverain plan`` read it, built
without a cluster: one sovereign namespace ``acme`` of profile ``fr``, a sovereign node
and another, and the operator's egress floor."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from souverain.api import EgressRules, ProfileEgress
from souverain.labels import managed_labels
from souverain.reconcile.egress import egress_floor
from souverain.report.build import ClusterState
from tests.support.profiles import SOVEREIGN

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def state(**extra: Any) -> ClusterState:
    """The state, with the fields named in ``extra`` replaced."""
    base = ClusterState(
        server="https://127.0.0.1:6443",
        now=NOW,
        sovereign_namespaces=[
            {
                "metadata": {"name": "acme"},
                "spec": {"profileName": "fr"},
                "status": {
                    "conditions": [{"type": "Ready", "status": "True"}],
                    "enforcementLayers": ["NetworkPolicy"],
                },
            }
        ],
        profiles={
            "fr": {
                "metadata": {"name": "fr"},
                "spec": {"nodeRequirements": [{"key": SOVEREIGN, "operator": "Exists"}]},
            }
        },
        nodes={
            "sov": {SOVEREIGN: "true", "topology.kubernetes.io/zone": "fr-1"},
            "std": {"topology.kubernetes.io/zone": "us-1"},
        },
    )
    base.network_policies = {"acme": floor()}
    for key, value in extra.items():
        setattr(base, key, value)
    return base


def floor() -> list[dict[str, Any]]:
    """The operator's egress floor in namespace acme, as the API server returns it."""
    policies = egress_floor("acme", ProfileEgress(), EgressRules())
    for policy in policies:
        policy["metadata"]["namespace"] = "acme"
        policy["metadata"]["labels"] = managed_labels("acme")
    return policies


def pod(name: str, node: str | None, phase: str = "Running") -> dict[str, Any]:
    """A pod on ``node`` (None: not scheduled yet) in ``phase``."""
    return {"metadata": {"name": name}, "spec": {"nodeName": node}, "status": {"phase": phase}}
