"""Reading souverain's generated admission policies in unit tests."""

from __future__ import annotations

from typing import Any

from souverain.admission.policy import EXEMPT


def exempt_conditions(policy: dict[str, Any]) -> dict[str, str]:
    """The conditions folded into a profile policy's ``exempt`` variable, by name, as the
    match conditions they stand for (the policy applies when all of them hold)."""
    (variable,) = [v for v in policy["spec"]["variables"] if v["name"] == EXEMPT]
    found = {}
    for part in variable["expression"].split("\n|| "):
        comment, negated = part.split("\n", 1)
        assert comment.startswith("// ")
        assert negated.startswith("!(")
        assert negated.endswith(")")
        found[comment.removeprefix("// ")] = negated[2:-1]
    return found


def no_namespace_selector(policy: dict[str, Any]) -> bool:
    """Whether the policy leaves the choice of namespaces to its bindings."""
    return "namespaceSelector" not in policy["spec"]["matchConstraints"]
