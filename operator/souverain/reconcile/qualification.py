"""Which nodes qualify for a profile: a node selector requirement evaluated on labels."""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from souverain.api import NodeRequirement


def meets(labels: Mapping[str, str], requirement: NodeRequirement) -> bool:
    """Whether node labels meet one requirement, with the semantics of a node selector."""
    present = requirement.key in labels
    if requirement.operator == "Exists":
        return present
    if requirement.operator == "DoesNotExist":
        return not present
    if requirement.operator == "In":
        return present and labels[requirement.key] in requirement.values
    return not present or labels[requirement.key] not in requirement.values


def qualifies(labels: Mapping[str, str], requirements: Iterable[NodeRequirement]) -> bool:
    """Whether a node with these labels meets every requirement of a profile."""
    return all(meets(labels, requirement) for requirement in requirements)


def qualified_nodes(
    nodes: Mapping[str, Mapping[str, str]], requirements: list[NodeRequirement]
) -> list[str]:
    """The names of the nodes (name -> labels) that qualify, sorted."""
    return sorted(name for name, labels in nodes.items() if qualifies(labels, requirements))
