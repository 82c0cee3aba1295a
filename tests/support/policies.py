"""Reading souverain's generated admission policies in unit tests."""

from __future__ import annotations

from typing import Any

from souverain.admission.policy import EXEMPT
from souverain.labels import PROFILE


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


def selects_bound_namespaces(policy: dict[str, Any]) -> bool:
    """Whether the policy itself matches only namespaces bound to a profile (its bindings
    then choose the profile's)."""
    selector = policy["spec"]["matchConstraints"].get("namespaceSelector")
    return bool(selector == {"matchExpressions": [{"key": PROFILE, "operator": "Exists"}]})
