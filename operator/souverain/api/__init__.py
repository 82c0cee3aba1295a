"""The API of souverain (group souverain.io, version v1alpha1) as pydantic models.

Each kind has a spec, a status and a whole-object model; ``crdgen`` turns them into
the CRDs. The models check what one value can say about itself (types, bounds,
patterns, CIDR syntax); rules across fields and across updates are CEL rules that
the API server evaluates, so objects read from the cluster always satisfy both.

Read with ``SovereigntyProfileSpec.model_validate(body["spec"])`` (or the whole
object with ``SovereigntyProfile.model_validate(body)``); write with
``model_dump(by_alias=True, exclude_none=True)``.
"""

from souverain.api.conditions import Condition
from souverain.api.egress import CIDRRule, EgressRules, FQDNRule, Port, ProfileEgress
from souverain.api.namespace import (
    Owner,
    SovereignNamespace,
    SovereignNamespaceSpec,
    SovereignNamespaceStatus,
)
from souverain.api.profile import (
    Enforcement,
    NodeRequirement,
    SovereigntyProfile,
    SovereigntyProfileSpec,
    SovereigntyProfileStatus,
    Storage,
    Toleration,
    Topology,
    VolumeSources,
)
from souverain.api.resource import CustomResource, ObjectMeta
from souverain.api.volume import ResidentVolume, ResidentVolumeSpec, ResidentVolumeStatus

RESOURCES: tuple[type[CustomResource], ...] = (
    SovereigntyProfile,
    SovereignNamespace,
    ResidentVolume,
)
"""Every kind, in the order the CRDs are listed."""

__all__ = [
    "RESOURCES",
    "CIDRRule",
    "Condition",
    "CustomResource",
    "EgressRules",
    "Enforcement",
    "FQDNRule",
    "NodeRequirement",
    "ObjectMeta",
    "Owner",
    "Port",
    "ProfileEgress",
    "ResidentVolume",
    "ResidentVolumeSpec",
    "ResidentVolumeStatus",
    "SovereignNamespace",
    "SovereignNamespaceSpec",
    "SovereignNamespaceStatus",
    "SovereigntyProfile",
    "SovereigntyProfileSpec",
    "SovereigntyProfileStatus",
    "Storage",
    "Toleration",
    "Topology",
    "VolumeSources",
]
