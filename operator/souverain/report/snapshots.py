"""The snapshots of a sovereign namespace in the report: each VolumeSnapshot's class,
whether the profile allows it, its bound VolumeSnapshotContent, and where it lives when
the driver says so. Pure, like :mod:`souverain.report.build`, which calls it.

Where a snapshot lives is read, in this order, from:

1. the ``topology.kubernetes.io/region`` and ``topology.kubernetes.io/zone`` labels of
   its VolumeSnapshotContent, as a driver or an administrator sets them;
2. the ``parameters`` of its VolumeSnapshotClass whose key (the part after the last
   ``/``, in any case) is ``region`` or ``location`` for the region, and ``zone``,
   ``availabilityZone`` or ``availability-zone`` for the zone.

A snapshot is resident when what was read lies inside the profile's
``storage.topology``, not resident when any of it lies outside, and unknown when
nothing says where it is, when it is not bound yet, or when the profile restricts no
region or zone. SnapshotClassNotAllowed is raised for a snapshot whose class the
profile does not list (or that has none: the cluster's default class was taken), such
as one made before the profile or before a change of its classes.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from souverain.api import SovereigntyProfileSpec
from souverain.report.schema import SnapshotEntry, Violation

REGION: Final = "topology.kubernetes.io/region"
ZONE: Final = "topology.kubernetes.io/zone"
REGION_PARAMETERS: Final = ("region", "location")
ZONE_PARAMETERS: Final = ("zone", "availabilityzone", "availability-zone")


def _from_parameters(parameters: Mapping[str, Any], names: tuple[str, ...]) -> str | None:
    for key in sorted(parameters):
        if key.rsplit("/", 1)[-1].lower() in names and parameters[key]:
            return str(parameters[key])
    return None


def location(
    content: Mapping[str, Any] | None, snapshot_class: Mapping[str, Any] | None
) -> tuple[str | None, str | None, str | None]:
    """Region, zone, and what said so (None, None, None when nothing does)."""
    labels = ((content or {}).get("metadata") or {}).get("labels") or {}
    if labels.get(REGION) or labels.get(ZONE):
        name = (content or {}).get("metadata", {}).get("name")
        return labels.get(REGION), labels.get(ZONE), f"labels of VolumeSnapshotContent {name}"
    parameters = (snapshot_class or {}).get("parameters") or {}
    region = _from_parameters(parameters, REGION_PARAMETERS)
    zone = _from_parameters(parameters, ZONE_PARAMETERS)
    if region or zone:
        name = (snapshot_class or {}).get("metadata", {}).get("name")
        return region, zone, f"parameters of VolumeSnapshotClass {name}"
    return None, None, None


def _resident(entry: SnapshotEntry, spec: SovereigntyProfileSpec) -> tuple[bool | None, str]:
    topology = spec.storage.topology
    if entry.content is None:
        return None, "not bound to a VolumeSnapshotContent yet"
    if entry.location_from is None:
        return None, "neither its content nor its class says where it lives"
    outside = []
    if topology.regions and entry.region is not None and entry.region not in topology.regions:
        outside.append(f"region {entry.region} is not one of {', '.join(topology.regions)}")
    if topology.zones and entry.zone is not None and entry.zone not in topology.zones:
        outside.append(f"zone {entry.zone} is not one of {', '.join(topology.zones)}")
    if outside:
        return False, f"{'; '.join(outside)} (from the {entry.location_from})"
    if not topology.regions and not topology.zones:
        return None, "the profile restricts no region or zone"
    if (topology.regions and entry.region is None) or (topology.zones and entry.zone is None):
        return None, f"the {entry.location_from} do not say all the profile restricts"
    return True, f"inside the profile's topology (from the {entry.location_from})"


def snapshot_report(
    profile_name: str,
    spec: SovereigntyProfileSpec | None,
    snapshots: list[dict[str, Any]],
    contents: Mapping[str, dict[str, Any]],
    classes: Mapping[str, dict[str, Any]],
    now: datetime,
) -> tuple[list[SnapshotEntry], list[Violation]]:
    """The entries of a namespace's snapshots and the violations they raise."""
    entries, violations = [], []
    for snapshot in sorted(snapshots, key=lambda s: s["metadata"]["name"]):
        snapshot_spec = snapshot.get("spec") or {}
        bound = (snapshot.get("status") or {}).get("boundVolumeSnapshotContentName") or None
        content = contents.get(bound or "")
        content_spec = (content or {}).get("spec") or {}
        class_name = snapshot_spec.get("volumeSnapshotClassName") or content_spec.get(
            "volumeSnapshotClassName"
        )
        entry = SnapshotEntry(
            name=snapshot["metadata"]["name"],
            snapshot_class=class_name,
            source_claim=(snapshot_spec.get("source") or {}).get("persistentVolumeClaimName"),
            content=bound,
            driver=content_spec.get("driver"),
            snapshot_handle=((content or {}).get("status") or {}).get("snapshotHandle")
            or (content_spec.get("source") or {}).get("snapshotHandle"),
        )
        entry.region, entry.zone, entry.location_from = location(
            content, classes.get(class_name or "")
        )
        entries.append(entry)
        if spec is None:
            continue
        allowed = spec.storage.allowed_snapshot_classes
        entry.class_allowed = class_name in allowed
        entry.resident, entry.message = _resident(entry, spec)
        where = f"VolumeSnapshot/{entry.name}"
        if not entry.class_allowed:
            violations.append(
                Violation(
                    kind="SnapshotClassNotAllowed",
                    object=where,
                    message=(f"class {class_name}" if class_name else "no class")
                    + f" is not allowed by SovereigntyProfile {profile_name}, which allows "
                    + (", ".join(allowed) if allowed else "no snapshot class"),
                    seen_at=now,
                )
            )
        if entry.resident is False:
            violations.append(
                Violation(
                    kind="NonResidentSnapshot",
                    object=where,
                    message=f"lies outside SovereigntyProfile {profile_name}: {entry.message}",
                    seen_at=now,
                )
            )
    return entries, violations
