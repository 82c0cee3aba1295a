"""ResidentVolume: persistent storage that must stay resident."""

from __future__ import annotations

from typing import Annotated, ClassVar, Literal

from pydantic import ConfigDict, Field

from souverain.api.conditions import READY, RESIDENT, Condition
from souverain.api.markers import Rule, immutable, map_list, merged, set_list, validated
from souverain.api.names import DNSSubdomain, LabelValue
from souverain.api.resource import (
    AGE_COLUMN,
    CustomResource,
    Definition,
    PrinterColumn,
    SpecModel,
    StatusModel,
    condition_column,
    condition_reason_column,
)

AccessMode = Literal["ReadWriteOnce", "ReadOnlyMany", "ReadWriteMany", "ReadWriteOncePod"]
VolumeMode = Literal["Filesystem", "Block"]
ReclaimPolicy = Literal["Retain", "Delete"]

QUANTITY_PATTERN = (
    "^[+-]?(([0-9]+([.][0-9]*)?)|([.][0-9]+))"
    "(([KMGTPE]i)|[numkMGTPE]|([eE][+-]?(([0-9]+([.][0-9]*)?)|([.][0-9]+))))?$"
)

Quantity = Annotated[str, Field(min_length=1, max_length=64, pattern=QUANTITY_PATTERN)]
"""A Kubernetes quantity, such as 10Gi or 500M."""


class ResidentVolumeSpec(SpecModel):
    """The storage wanted: size, access, and optionally the class."""

    model_config = ConfigDict(
        json_schema_extra=validated(
            Rule(
                "!has(oldSelf.storageClassName)"
                " || (has(self.storageClassName)"
                " && self.storageClassName == oldSelf.storageClassName)",
                "storageClassName cannot change once set",
                field_path=".storageClassName",
            )
        )
    )

    size: Quantity = Field(
        json_schema_extra=validated(
            Rule(
                "!isQuantity(self) || quantity(self).isGreaterThan(quantity('0'))",
                "size must be greater than zero",
            ),
            Rule(
                "!isQuantity(self) || !isQuantity(oldSelf)"
                " || quantity(self).compareTo(quantity(oldSelf)) >= 0",
                "size may grow but never shrink",
            ),
        )
    )
    """Storage requested, such as 10Gi; may grow (where the class allows expansion), never
    shrink."""
    access_modes: list[AccessMode] = Field(
        min_length=1,
        max_length=4,
        json_schema_extra=merged(
            set_list(),
            immutable("accessModes cannot change once set"),
            validated(
                Rule(
                    "!('ReadWriteOncePod' in self) || size(self) == 1",
                    "ReadWriteOncePod cannot be combined with other access modes",
                )
            ),
        ),
    )
    """How the volume may be mounted: ReadWriteOnce, ReadOnlyMany, ReadWriteMany or
    ReadWriteOncePod; cannot change."""
    volume_mode: VolumeMode = Field(
        default="Filesystem", json_schema_extra=immutable("volumeMode cannot change once set")
    )
    """Filesystem or Block; cannot change."""
    storage_class_name: DNSSubdomain | None = None
    """Storage class of the claim; one the profile allows. Empty takes the profile's default
    class. Cannot change once set."""
    reclaim: ReclaimPolicy = "Retain"
    """Retain keeps the claim and its data when this object is deleted; Delete removes them."""


class ResidentVolumeStatus(StatusModel):
    """What the operator observed about the volume."""

    conditions: list[Condition] = Field(
        default_factory=list, max_length=16, json_schema_extra=map_list("type")
    )
    """Ready, Bound and Resident."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation this status was computed from."""
    claim_name: DNSSubdomain | None = None
    """The PersistentVolumeClaim the operator made."""
    volume_name: DNSSubdomain | None = None
    """The PersistentVolume bound to the claim."""
    capacity: Quantity | None = None
    """Capacity of the bound volume."""
    region: LabelValue | None = None
    """Region of the bound volume (topology.kubernetes.io/region)."""
    zone: LabelValue | None = None
    """Zone of the bound volume (topology.kubernetes.io/zone)."""


class ResidentVolume(CustomResource):
    """Persistent storage that must stay resident. The operator makes the claim, checks that its
    class and the bound volume sit inside the profile's storage classes and topology, and
    reports residency. Namespaced, in a namespace bound by a SovereignNamespace."""

    definition: ClassVar[Definition] = Definition(
        plural="residentvolumes",
        scope="Namespaced",
        short_names=("rv",),
        printer_columns=(
            condition_column("Ready", READY),
            condition_column("Resident", RESIDENT),
            PrinterColumn("Size", "string", ".spec.size", "Storage requested."),
            PrinterColumn("Capacity", "string", ".status.capacity", "Capacity of the volume."),
            PrinterColumn(
                "Class", "string", ".spec.storageClassName", "Storage class.", priority=1
            ),
            PrinterColumn("Region", "string", ".status.region", "Region of the bound volume."),
            PrinterColumn("Zone", "string", ".status.zone", "Zone of the bound volume."),
            PrinterColumn(
                "Volume", "string", ".status.volumeName", "The bound volume.", priority=1
            ),
            condition_reason_column(READY),
            AGE_COLUMN,
        ),
        # The name is the claim's name and the value of its souverain.io/resident-volume
        # label, and label values hold at most 63 characters.
        name_max_length=63,
    )

    kind: str = "ResidentVolume"
    spec: ResidentVolumeSpec
    """The storage wanted."""
    status: ResidentVolumeStatus = Field(default_factory=ResidentVolumeStatus)
    """What the operator observed."""
