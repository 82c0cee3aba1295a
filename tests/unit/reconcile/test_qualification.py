"""Node qualification: node selector requirement semantics."""

from __future__ import annotations

import pytest

from souverain.api import NodeRequirement
from souverain.reconcile.qualification import meets, qualified_nodes, qualifies

SOVEREIGN = "node-restriction.kubernetes.io/french-sovereign"


@pytest.mark.parametrize(
    ("operator", "values", "labels", "expected"),
    [
        ("In", ["true"], {SOVEREIGN: "true"}, True),
        ("In", ["true"], {SOVEREIGN: "false"}, False),
        ("In", ["true"], {}, False),
        ("NotIn", ["false"], {SOVEREIGN: "true"}, True),
        ("NotIn", ["true"], {SOVEREIGN: "true"}, False),
        ("NotIn", ["true"], {}, True),
        ("Exists", [], {SOVEREIGN: ""}, True),
        ("Exists", [], {}, False),
        ("DoesNotExist", [], {}, True),
        ("DoesNotExist", [], {SOVEREIGN: "true"}, False),
    ],
)
def test_requirement_semantics(
    operator: str, values: list[str], labels: dict[str, str], expected: bool
) -> None:
    requirement = NodeRequirement.model_validate(
        {"key": SOVEREIGN, "operator": operator, "values": values}
    )
    assert meets(labels, requirement) is expected


def test_every_requirement_must_hold() -> None:
    requirements = [
        NodeRequirement(key=SOVEREIGN, operator="In", values=["true"]),
        NodeRequirement(key="topology.kubernetes.io/region", operator="In", values=["fr-paris"]),
    ]
    nodes = {
        "a": {SOVEREIGN: "true", "topology.kubernetes.io/region": "fr-paris"},
        "b": {SOVEREIGN: "true", "topology.kubernetes.io/region": "us-east"},
        "c": {"topology.kubernetes.io/region": "fr-paris"},
    }
    assert qualified_nodes(nodes, requirements) == ["a"]
    assert not qualifies({}, requirements)
