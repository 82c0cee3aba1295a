"""What a ResidentVolume should hold: a PersistentVolumeClaim on a class the profile allows
and that keeps volumes inside its topology, the Bound and Resident conditions, and the
status fields the bound volume gives. Whether the class and the bound volume keep data
inside the profile is decided in :mod:`souverain.reconcile.residency`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from kubernetes.utils.quantity import parse_quantity

from souverain import labels
from souverain.api import Condition, ResidentVolume, SovereigntyProfileSpec, Storage
from souverain.api import conditions as c
from souverain.api.resource import GROUP_VERSION
from souverain.labels import RESIDENT_VOLUME
from souverain.reconcile.conditions import condition
from souverain.reconcile.qualification import qualifies
from souverain.reconcile.residency import WAIT_FOR_FIRST_CONSUMER, class_problem, residency

# -- the class ----------------------------------------------------------------


def effective_class(
    rv: ResidentVolume, storage: Storage, observed_claim: Mapping[str, Any] | None
) -> str | None:
    """The class of the claim: the existing claim's (the API server refuses to change it),
    else the volume's own, else the profile's default."""
    existing = ((observed_claim or {}).get("spec") or {}).get("storageClassName")
    return existing or rv.spec.storage_class_name or storage.default_class


# -- the claim ----------------------------------------------------------------


def owner_reference(rv: ResidentVolume) -> dict[str, Any]:
    """The reference that ties the claim to its ResidentVolume."""
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "ResidentVolume",
        "name": rv.metadata.name,
        "uid": rv.metadata.uid,
        "controller": True,
    }


def belongs(claim: Mapping[str, Any], rv: ResidentVolume) -> bool:
    """Whether an existing claim is the volume's: made for it (by label) and controlled by
    nothing else (a retained claim has no controller and is taken back)."""
    metadata = claim.get("metadata") or {}
    if (metadata.get("labels") or {}).get(RESIDENT_VOLUME) != rv.metadata.name:
        return False
    controllers = [ref for ref in metadata.get("ownerReferences") or [] if ref.get("controller")]
    return all(ref.get("uid") == rv.metadata.uid for ref in controllers)


def _quantity(text: str) -> Decimal:
    value: Decimal = parse_quantity(text)  # type: ignore[no-untyped-call]
    return value


def requested(claim: Mapping[str, Any]) -> str | None:
    """The storage a claim requests."""
    resources = (claim.get("spec") or {}).get("resources") or {}
    value = (resources.get("requests") or {}).get("storage")
    return str(value) if value is not None else None


def claim_size(rv: ResidentVolume, observed: Mapping[str, Any] | None) -> str:
    """The size to request: the volume's, except that a claim never shrinks and only a
    bound claim can grow (the API server refuses to resize a pending one)."""
    current = requested(observed) if observed else None
    if current is None:
        return rv.spec.size
    bound = (observed or {}).get("status", {}).get("phase") == "Bound"
    if not bound or _quantity(rv.spec.size) <= _quantity(current):
        return current
    return rv.spec.size


def desired_claim(
    rv: ResidentVolume, class_name: str, observed: Mapping[str, Any] | None
) -> dict[str, Any]:
    """The PersistentVolumeClaim of the volume, with the fields the operator owns."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": rv.metadata.name,
            "namespace": rv.metadata.namespace,
            "labels": {
                labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
                RESIDENT_VOLUME: rv.metadata.name,
            },
            "ownerReferences": [owner_reference(rv)],
        },
        "spec": {
            "accessModes": list(rv.spec.access_modes),
            "volumeMode": rv.spec.volume_mode,
            "storageClassName": class_name,
            "resources": {"requests": {"storage": claim_size(rv, observed)}},
        },
    }


def retained_claim(observed: Mapping[str, Any]) -> dict[str, Any]:
    """The claim as the operator applies it when letting it go: the spec as it is, no
    owner reference and no managed-by label (server-side apply removes both), and a label
    saying it was retained."""
    metadata = observed["metadata"]
    spec = observed.get("spec") or {}
    kept_spec: dict[str, Any] = {
        key: spec[key] for key in ("accessModes", "volumeMode", "storageClassName") if key in spec
    }
    size = requested(observed)
    if size is not None:
        kept_spec["resources"] = {"requests": {"storage": size}}
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "metadata": {
            "name": metadata["name"],
            "namespace": metadata["namespace"],
            "labels": {
                RESIDENT_VOLUME: (metadata.get("labels") or {}).get(
                    RESIDENT_VOLUME, metadata["name"]
                ),
                labels.RETAINED: "true",
            },
        },
        "spec": kept_spec,
    }


# -- the plan -----------------------------------------------------------------


@dataclass
class VolumePlan:
    """The claim to apply (None: leave things as they are), the conditions, and the status
    fields the bound volume gives."""

    claim: dict[str, Any] | None
    conditions: list[Condition] = field(default_factory=list)
    claim_name: str | None = None
    volume_name: str | None = None
    capacity: str | None = None
    region: str | None = None
    zone: str | None = None

    def status_fields(self) -> dict[str, Any]:
        return {
            "claimName": self.claim_name,
            "volumeName": self.volume_name,
            "capacity": self.capacity,
            "region": self.region,
            "zone": self.zone,
        }


def plan_volume(
    rv: ResidentVolume,
    profile_name: str | None,
    profile: SovereigntyProfileSpec | None,
    storage_class: Mapping[str, Any] | None,
    observed_claim: Mapping[str, Any] | None,
    bound_volume: Mapping[str, Any] | None,
    nodes: Mapping[str, Mapping[str, str]],
    now: datetime | None = None,
) -> VolumePlan:
    """The desired claim and the Bound and Resident conditions of ``rv``.

    ``profile_name`` is None when the namespace is not bound by a SovereignNamespace and
    ``profile`` None when that profile does not exist; ``storage_class`` is the class the
    claim would use, ``observed_claim`` the claim of that name and ``bound_volume`` the
    PersistentVolume it is bound to, each None when absent.
    """
    generation = rv.metadata.generation

    def cond(kind: str, status: Any, reason: str, message: str) -> Condition:
        return condition(kind, status, reason, message, generation, now)

    def blocked(reason: str, message: str) -> VolumePlan:
        return VolumePlan(
            claim=None,
            conditions=[
                cond(c.BOUND, "False", reason, message),
                cond(c.RESIDENT, "False", reason, message),
            ],
        )

    name, namespace = rv.metadata.name, rv.metadata.namespace
    if observed_claim is not None and not belongs(observed_claim, rv):
        return blocked(
            c.CLAIM_CONFLICT,
            f"PersistentVolumeClaim {name} already exists in {namespace} and does not belong "
            "to this ResidentVolume; it is left alone. Rename the volume or remove the claim.",
        )
    if profile_name is None:
        return blocked(
            c.NAMESPACE_NOT_SOVEREIGN,
            f"Namespace {namespace} is not bound to a SovereigntyProfile by a "
            "SovereignNamespace; no claim is made.",
        )
    if profile is None:
        return blocked(
            c.PROFILE_NOT_FOUND,
            f"SovereigntyProfile {profile_name} does not exist; no claim is made.",
        )

    qualified = [
        node
        for node, node_labels in nodes.items()
        if qualifies(node_labels, profile.node_requirements)
    ]
    class_name = effective_class(rv, profile.storage, observed_claim)
    problem = class_problem(class_name, storage_class, profile_name, profile.storage, qualified)
    audit = profile.enforcement.mode == "Audit"
    if observed_claim is None and problem is not None and not (audit and storage_class):
        return blocked(problem[0], problem[1] + " No claim is made.")
    claim = None
    if class_name is not None and (problem is None or audit):
        claim = desired_claim(rv, class_name, observed_claim)

    phase = ((observed_claim or {}).get("status") or {}).get("phase")
    volume_name = ((observed_claim or {}).get("spec") or {}).get("volumeName") or None
    plan = VolumePlan(claim=claim, claim_name=name if (claim or observed_claim) else None)
    wanted_size = rv.spec.size
    current_size = requested(observed_claim) if observed_claim else None
    resize_note = ""
    if (
        current_size is not None
        and phase != "Bound"
        and _quantity(wanted_size) > _quantity(current_size)
    ):
        resize_note = f" It grows to {wanted_size} once bound."

    if phase == "Bound" and volume_name:
        plan.volume_name = volume_name
        capacity = ((observed_claim or {}).get("status") or {}).get("capacity") or {}
        plan.capacity = capacity.get("storage")
        bound = cond(
            c.BOUND,
            "True",
            c.CLAIM_BOUND,
            f"PersistentVolumeClaim {name} is bound to PersistentVolume {volume_name}.",
        )
        if bound_volume is None:
            resident = cond(
                c.RESIDENT,
                "Unknown",
                c.TOPOLOGY_UNKNOWN,
                f"PersistentVolume {volume_name} cannot be read.",
            )
        else:
            found = residency(bound_volume, profile_name, profile, nodes)
            plan.region, plan.zone = found.region, found.zone
            plan.capacity = plan.capacity or (
                (bound_volume.get("spec") or {}).get("capacity") or {}
            ).get("storage")
            resident = cond(c.RESIDENT, found.status, found.reason, found.message)
    elif phase == "Lost":
        message = (
            f"PersistentVolumeClaim {name} lost its PersistentVolume {volume_name or ''}".rstrip()
            + "; its data is no longer reachable."
        )
        bound = cond(c.BOUND, "False", c.CLAIM_LOST, message)
        resident = cond(c.RESIDENT, "Unknown", c.CLAIM_LOST, message)
    else:
        late = (storage_class or {}).get("volumeBindingMode") == WAIT_FOR_FIRST_CONSUMER
        message = f"PersistentVolumeClaim {name} is not bound yet" + (
            ": it binds when a pod that uses it is scheduled." if late else "."
        )
        bound = cond(c.BOUND, "False", c.CLAIM_PENDING, message + resize_note)
        resident = cond(c.RESIDENT, "Unknown", c.CLAIM_PENDING, "No PersistentVolume is bound yet.")
    if problem is not None and resident.status != "False":
        # The class is not (or no longer) one that keeps data inside the profile.
        resident = cond(c.RESIDENT, "False", problem[0], problem[1])
    plan.conditions = [bound, resident]
    return plan
