"""SovereigntyProfile specs that several unit tests read."""

from __future__ import annotations

from souverain.api import SovereigntyProfileSpec

SOVEREIGN = "node-restriction.kubernetes.io/french-sovereign"
"""The label of French-sovereign nodes."""

FRENCH = SovereigntyProfileSpec.model_validate(
    {
        "nodeRequirements": [{"key": SOVEREIGN, "operator": "In", "values": ["true"]}],
        "tolerations": [{"key": "dedicated", "value": "sovereign", "effect": "NoSchedule"}],
    }
)
"""Pods on French-sovereign nodes only, tolerating their ``dedicated=sovereign`` taint."""
