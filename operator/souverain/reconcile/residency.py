"""Whether storage stays inside a profile's topology: the class a claim uses, and the
PersistentVolume bound to it.

A class keeps volumes inside the profile when it binds late (``WaitForFirstConsumer``, so
that the volume follows the pod, which is pinned to qualified nodes) or when every term of
its ``allowedTopologies`` pins the profile's regions and zones (or qualified nodes by
hostname). A bound volume is resident when each term of its node affinity lies inside the
profile's topology or reaches only qualified nodes, and its topology labels lie inside the
topology; a volume that says nothing about where it is cannot be proven resident.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from souverain.api import SovereigntyProfileSpec, Storage
from souverain.api import conditions as c
from souverain.reconcile.qualification import qualifies

REGION: Final = "topology.kubernetes.io/region"
ZONE: Final = "topology.kubernetes.io/zone"
HOSTNAME: Final = "kubernetes.io/hostname"
_LEGACY: Final = {
    "failure-domain.beta.kubernetes.io/region": REGION,
    "failure-domain.beta.kubernetes.io/zone": ZONE,
}
WAIT_FOR_FIRST_CONSUMER: Final = "WaitForFirstConsumer"
_SHOWN: Final = 5


# -- the class ----------------------------------------------------------------


def _names(values: Iterable[str]) -> str:
    shown = sorted(values)
    text = ", ".join(shown[:_SHOWN])
    return text + (f" and {len(shown) - _SHOWN} more" if len(shown) > _SHOWN else "")


def _term_values(term: Mapping[str, Any], key: str) -> set[str] | None:
    """Values a topology or node selector term pins ``key`` to (In), or None if it does not."""
    pinned: set[str] | None = None
    expressions = [
        *(term.get("matchLabelExpressions") or []),
        *(term.get("matchExpressions") or []),
    ]
    for expression in expressions:
        if _LEGACY.get(expression.get("key", ""), expression.get("key")) != key:
            continue
        if expression.get("operator", "In") != "In":
            continue
        values = set(expression.get("values") or [])
        pinned = values if pinned is None else pinned & values
    if key == HOSTNAME:
        for expression in term.get("matchFields") or []:
            if expression.get("key") == "metadata.name" and expression.get("operator") == "In":
                values = set(expression.get("values") or [])
                pinned = values if pinned is None else pinned & values
    return pinned


def _topology_term_inside(
    term: Mapping[str, Any], storage: Storage, qualified: Iterable[str]
) -> bool:
    regions, zones = storage.topology.regions, storage.topology.zones
    pinned_regions, pinned_zones = _term_values(term, REGION), _term_values(term, ZONE)
    if (regions or zones) and (
        (not regions or (pinned_regions and pinned_regions <= set(regions)))
        and (not zones or (pinned_zones and pinned_zones <= set(zones)))
    ):
        return True
    hosts = _term_values(term, HOSTNAME)
    return bool(hosts) and hosts is not None and hosts <= set(qualified)


def class_problem(
    class_name: str | None,
    storage_class: Mapping[str, Any] | None,
    profile_name: str,
    storage: Storage,
    qualified: Iterable[str],
) -> tuple[str, str] | None:
    """Why a claim of ``class_name`` could land outside the profile (reason, message), or
    None when the class is allowed and keeps volumes inside it."""
    profile = f"SovereigntyProfile {profile_name}"
    allowed = (
        f"it allows {_names(storage.allowed_classes)}"
        if storage.allowed_classes
        else "it allows no storage class"
    )
    if class_name is None:
        return (
            c.NO_STORAGE_CLASS,
            f"Neither spec.storageClassName nor {profile} (storage.defaultClass) names a "
            f"storage class; {allowed}.",
        )
    if class_name not in storage.allowed_classes:
        return (
            c.STORAGE_CLASS_NOT_ALLOWED,
            f"StorageClass {class_name} is not allowed by {profile}; {allowed}.",
        )
    if storage_class is None:
        return (c.STORAGE_CLASS_NOT_FOUND, f"StorageClass {class_name} does not exist.")
    if storage_class.get("volumeBindingMode") == WAIT_FOR_FIRST_CONSUMER:
        return None
    terms = storage_class.get("allowedTopologies") or []
    qualified = list(qualified)
    if terms and all(_topology_term_inside(term, storage, qualified) for term in terms):
        return None
    where = _topology_text(storage)
    return (
        c.STORAGE_CLASS_BINDS_ANYWHERE,
        f"StorageClass {class_name} binds volumes as soon as they are claimed "
        f"(volumeBindingMode {storage_class.get('volumeBindingMode') or 'Immediate'}) and its "
        f"allowedTopologies do not keep them inside {where} of {profile}; use a class with "
        f"volumeBindingMode {WAIT_FOR_FIRST_CONSUMER}, or whose allowedTopologies list only "
        "those places.",
    )


def _topology_text(storage: Storage) -> str:
    parts = []
    if storage.topology.regions:
        parts.append(f"the regions {_names(storage.topology.regions)}")
    if storage.topology.zones:
        parts.append(f"the zones {_names(storage.topology.zones)}")
    return " and ".join(parts) if parts else "the qualified nodes"


# -- residency ----------------------------------------------------------------


@dataclass(frozen=True)
class Residency:
    """Where a bound volume is, and whether that is inside the profile."""

    status: str
    reason: str
    message: str
    region: str | None = None
    zone: str | None = None


def _matches(expression: Mapping[str, Any], value: str | None) -> bool:
    operator = expression.get("operator")
    values = expression.get("values") or []
    if operator == "In":
        return value is not None and value in values
    if operator == "NotIn":
        return value is None or value not in values
    if operator == "Exists":
        return value is not None
    if operator == "DoesNotExist":
        return value is None
    if operator in ("Gt", "Lt") and value is not None and values:
        try:
            number, bound = int(value), int(values[0])
        except ValueError:
            return False
        return number > bound if operator == "Gt" else number < bound
    return False


def term_matches(term: Mapping[str, Any], node: str, node_labels: Mapping[str, str]) -> bool:
    """Whether a node selector term selects the node (its expressions all hold)."""
    expressions = term.get("matchExpressions") or []
    fields = term.get("matchFields") or []
    if not expressions and not fields:
        return False  # an empty term selects no node
    return all(_matches(e, node_labels.get(e.get("key", ""))) for e in expressions) and all(
        _matches(f, node if f.get("key") == "metadata.name" else None) for f in fields
    )


def _label(labels_: Mapping[str, str], key: str) -> str | None:
    if key in labels_:
        return labels_[key]
    legacy = next((old for old, new in _LEGACY.items() if new == key), None)
    return labels_.get(legacy) if legacy else None


def _outside(values: Iterable[str], allowed: list[str]) -> list[str]:
    return sorted(set(values) - set(allowed)) if allowed else []


def residency(
    pv: Mapping[str, Any],
    profile_name: str,
    spec: SovereigntyProfileSpec,
    nodes: Mapping[str, Mapping[str, str]],
) -> Residency:
    """Whether the bound volume ``pv`` lies inside the profile's topology or its qualified
    nodes (``nodes``: name -> labels of every node known)."""
    name = pv["metadata"]["name"]
    topology = spec.storage.topology
    restricted = bool(topology.regions or topology.zones)
    profile = f"SovereigntyProfile {profile_name}"
    pv_labels = pv["metadata"].get("labels") or {}
    terms = (((pv.get("spec") or {}).get("nodeAffinity") or {}).get("required") or {}).get(
        "nodeSelectorTerms"
    ) or []

    regions: set[str] = set()
    zones: set[str] = set()
    reached: set[str] = set()
    problems: list[str] = []
    proven = False
    unknown: list[str] = []

    label_region, label_zone = _label(pv_labels, REGION), _label(pv_labels, ZONE)
    if label_region:
        regions.add(label_region)
    if label_zone:
        zones.add(label_zone)
    for value in _outside(regions, topology.regions):
        problems.append(f"its label {REGION}={value} is outside the regions of {profile}")
    for value in _outside(zones, topology.zones):
        problems.append(f"its label {ZONE}={value} is outside the zones of {profile}")
    if restricted and not terms:
        proven = (not topology.regions or bool(regions)) and (not topology.zones or bool(zones))

    for term in terms:
        pinned_regions = _term_values(term, REGION) or set()
        pinned_zones = _term_values(term, ZONE) or set()
        regions |= pinned_regions
        zones |= pinned_zones
        outside = [
            f"its node affinity reaches region {value}"
            for value in _outside(pinned_regions, topology.regions)
        ] + [
            f"its node affinity reaches zone {value}"
            for value in _outside(pinned_zones, topology.zones)
        ]
        if outside:
            problems += [f"{text}, outside {profile}" for text in outside]
            continue
        pinned_inside = restricted and (
            (not topology.regions or bool(pinned_regions))
            and (not topology.zones or bool(pinned_zones))
        )
        selected = sorted(
            n for n, node_labels in nodes.items() if term_matches(term, n, node_labels)
        )
        reached.update(selected)
        for node in selected:
            node_region = _label(nodes[node], REGION)
            node_zone = _label(nodes[node], ZONE)
            if not pinned_regions and node_region:
                regions.add(node_region)
            if not pinned_zones and node_zone:
                zones.add(node_zone)
        if pinned_inside:
            continue
        failing = [n for n in selected if not qualifies(nodes[n], spec.node_requirements)]
        misplaced = [
            n
            for n in selected
            if n not in failing
            and (
                _outside([_label(nodes[n], REGION) or ""], topology.regions)
                or _outside([_label(nodes[n], ZONE) or ""], topology.zones)
            )
        ]
        if failing:
            problems.append(
                f"its node affinity reaches node(s) {_names(failing)}, which do not qualify "
                f"for {profile}"
            )
        elif misplaced:
            problems.append(
                f"its node affinity reaches node(s) {_names(misplaced)}, outside "
                f"{_topology_text(spec.storage)} of {profile}"
            )
        elif not selected:
            unknown.append("its node affinity selects no node the operator knows")

    where = _where(name, reached, regions, zones)
    region = next(iter(regions)) if len(regions) == 1 else None
    zone = next(iter(zones)) if len(zones) == 1 else None
    if problems:
        return Residency(
            "False", c.OUTSIDE_TOPOLOGY, f"{where}: {'; '.join(problems)}.", region, zone
        )
    if unknown:
        return Residency(
            "False",
            c.TOPOLOGY_UNKNOWN,
            f"{where}: {'; '.join(unknown)}, so its residency cannot be proven.",
            region,
            zone,
        )
    if not terms and not proven:
        return Residency(
            "False",
            c.TOPOLOGY_UNKNOWN,
            f"PersistentVolume {name} has no node affinity"
            + (" and no topology labels" if not (regions or zones) else "")
            + f" that place it inside {profile}, so its residency cannot be proven.",
            region,
            zone,
        )
    return Residency("True", c.WITHIN_TOPOLOGY, f"{where}, inside {profile}.", region, zone)


def _where(name: str, reached: set[str], regions: set[str], zones: set[str]) -> str:
    parts = []
    if reached:
        parts.append(("on node " if len(reached) == 1 else "on nodes ") + _names(reached))
    if regions:
        parts.append(("in region " if len(regions) == 1 else "in regions ") + _names(regions))
    if zones:
        parts.append(("zone " if len(zones) == 1 else "zones ") + _names(zones))
    return f"PersistentVolume {name} is " + (", ".join(parts) if parts else "in no known place")
