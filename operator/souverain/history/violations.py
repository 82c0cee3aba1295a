"""The violations the operator records, from the conditions it computes.

Kinds are the report's: ``PodOnUnqualifiedNode`` (per pod), ``EgressOutsideProfile``
and ``NotReady`` (per namespace: its Namespace and enforcing objects are not in place),
``NonResidentVolume`` (per claim). Other parts add their kinds with their own scope.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from souverain.api import conditions as c
from souverain.api.conditions import Condition, find_condition
from souverain.history.chain import Scope, Violation

POD_ON_UNQUALIFIED_NODE = "PodOnUnqualifiedNode"
EGRESS_OUTSIDE_PROFILE = "EgressOutsideProfile"
NOT_READY = "NotReady"
NON_RESIDENT_VOLUME = "NonResidentVolume"


def namespace_violations(
    name: str,
    conditions: Iterable[Condition],
    non_compliant: Sequence[tuple[str, str]] | None,
) -> tuple[list[Violation], Scope]:
    """What a SovereignNamespace's conditions say is wrong, and the kinds they speak
    for: pods only once placement is known (``non_compliant`` not None)."""
    found = list(conditions)
    this = f"SovereignNamespace/{name}"
    current: list[Violation] = []
    ready = find_condition(found, c.NAMESPACE_READY)
    if ready is not None and ready.status == "False":
        current.append(Violation(NOT_READY, this, f"{ready.reason}: {ready.message}"))
    egress = find_condition(found, c.EGRESS_RESTRICTED)
    if egress is not None and egress.reason == c.EGRESS_OUTSIDE_PROFILE:
        current.append(Violation(EGRESS_OUTSIDE_PROFILE, this, egress.message))
    kinds = {NOT_READY, EGRESS_OUTSIDE_PROFILE}
    if non_compliant is not None:
        kinds.add(POD_ON_UNQUALIFIED_NODE)
        current.extend(
            Violation(
                POD_ON_UNQUALIFIED_NODE,
                f"Pod/{pod}",
                f"runs on node {node}, which does not qualify",
            )
            for pod, node in non_compliant
        )

    def scope(kind: str, obj: str) -> bool:
        return kind in kinds

    return current, scope


def volume_violations(claim: str, resident: Condition | None) -> tuple[list[Violation], Scope]:
    """A ResidentVolume's claim that is not resident, in the scope of that claim alone."""
    this = f"PersistentVolumeClaim/{claim}"
    current = []
    if resident is not None and resident.status == "False":
        current.append(
            Violation(NON_RESIDENT_VOLUME, this, f"{resident.reason}: {resident.message}")
        )

    def scope(kind: str, obj: str) -> bool:
        return kind == NON_RESIDENT_VOLUME and obj == this

    return current, scope


def released_volume(claim: str) -> Scope:
    """The scope of a ResidentVolume being deleted: its violation ends."""
    return volume_violations(claim, None)[1]
