"""What a SovereigntyProfile implies: the nodes that qualify, its conditions, and the
admission objects that enforce it in the API server."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import souverain.admission.placement as placement
from souverain.admission import egress_floor, exposure, images, protection, snapshots, storage
from souverain.admission.policy import binding_stubs
from souverain.api import Condition, SovereigntyProfileSpec
from souverain.api import conditions as c
from souverain.reconcile.conditions import condition
from souverain.reconcile.qualification import qualified_nodes


@dataclass
class ProfilePlan:
    """The observed qualification of nodes and the objects that enforce the profile."""

    qualified_nodes: list[str]
    conditions: list[Condition] = field(default_factory=list)
    admission: list[dict[str, Any]] = field(default_factory=list)
    """Admission policy bindings for this profile (applied; deleted with the profile)."""


def admission_objects(
    name: str, spec: SovereigntyProfileSpec | None, *, native_placement: bool = True
) -> list[dict[str, Any]]:
    """The per-profile admission objects; with ``spec`` None, only their kinds and names
    (enough to delete them). With ``native_placement``, the pod checks of storage and
    images are made by the placement policy and their own bindings are left out."""
    if spec is None:
        return [
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": egress_floor.egress_floor_binding_name(name)},
            },
            *storage.storage_bindings(name, None),
            *exposure.exposure_bindings(name, None),
            *snapshots.snapshot_bindings(name, None),
            *protection.protection_bindings(name, None),
            *images.images_bindings(name, None),
        ]
    return [
        egress_floor.egress_floor_binding(name, spec),
        *storage.storage_bindings(name, spec, pods=not native_placement),
        *exposure.exposure_bindings(name, spec),
        *snapshots.snapshot_bindings(name, spec),
        *protection.protection_bindings(name, spec),
        *images.images_bindings(name, spec, pods=not native_placement),
    ]


def layered_bindings(name: str) -> list[dict[str, Any]]:
    """The kinds and names of the profile's bindings that come and go with the placement
    layers and its mode: placement's own, and the pod policies of storage and images,
    bound alone where native placement is off."""
    alone = binding_stubs((storage.POD_VOLUMES, images.PODS), name)
    return [*placement.profile_bindings(name, None), *alone]


def plan_profile(
    name: str,
    generation: int | None,
    spec: SovereigntyProfileSpec | None,
    nodes: Mapping[str, Mapping[str, str]],
    now: datetime | None = None,
    *,
    native_placement: bool = True,
    mutating_policies: bool = True,
) -> ProfilePlan:
    """Qualified nodes, conditions and admission objects of a profile.

    Placement bindings are left out when ``native_placement`` is False (the operator
    keeps only its webhooks); the pinning binding also needs a cluster that serves
    MutatingAdmissionPolicy (``mutating_policies``).
    """
    if spec is None:
        return ProfilePlan(
            qualified_nodes=[],
            admission=[*admission_objects(name, None), *placement.profile_bindings(name, None)],
        )
    qualified = qualified_nodes(nodes, spec.node_requirements)
    valid = condition(
        c.VALID, "True", c.SPEC_VALID, "The profile can be enforced.", generation, now
    )
    if qualified:
        ready = condition(
            c.READY,
            "True",
            c.NODES_QUALIFIED,
            f"{len(qualified)} node(s) qualify: {', '.join(qualified[:20])}"
            + (" ..." if len(qualified) > 20 else "")
            + (
                ". Mode Audit: violations are reported, not refused."
                if spec.enforcement.mode == "Audit"
                else "."
            ),
            generation,
            now,
        )
    else:
        ready = condition(
            c.READY,
            "False",
            c.NO_QUALIFIED_NODES,
            "No node meets the node requirements: pods of bound namespaces cannot be scheduled.",
            generation,
            now,
        )
    return ProfilePlan(
        qualified_nodes=qualified,
        conditions=[valid, ready],
        admission=[
            *admission_objects(name, spec, native_placement=native_placement),
            *placement.profile_bindings(
                name, spec, native=native_placement, mutating=mutating_policies
            ),
        ],
    )
