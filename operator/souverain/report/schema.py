"""The report's JSON schema, versioned by ``apiVersion``; ``docs/report-schema.json`` is
generated from these models (a test checks it is current)."""

from __future__ import annotations

from datetime import datetime
from typing import Final, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

REPORT_API_VERSION: Final = "souverain.io/report/v1"


class Part(BaseModel):
    """A piece of a report or plan: camelCase on the wire, descriptions from docstrings."""

    model_config = ConfigDict(
        alias_generator=to_camel, populate_by_name=True, use_attribute_docstrings=True
    )


class NodeEntry(Part):
    """A node that runs pods of the namespace."""

    name: str
    qualified: bool
    """Whether the node meets the profile's node requirements now."""
    region: str | None = None
    """topology.kubernetes.io/region of the node."""
    zone: str | None = None
    """topology.kubernetes.io/zone of the node."""
    jurisdiction: dict[str, str] = Field(default_factory=dict)
    """The node's values of the label keys the profile's node requirements name."""


class PodEntry(Part):
    """A pod of the namespace and where it runs."""

    name: str
    node: str | None = None
    """The node it is bound to; empty while it is not scheduled."""
    phase: str | None = None
    compliant: bool | None = None
    """Whether its node qualifies; empty while it is not scheduled."""
    egress_isolated: bool | None = None
    """Whether an Egress NetworkPolicy selects it; empty without a readable profile."""
    egress: list[str] = Field(default_factory=list)
    """Where its traffic may go: the effective egress of every NetworkPolicy that selects
    it, whoever wrote them, each with the policy that allows it."""
    egress_outside_profile: list[str] = Field(default_factory=list)
    """What of that lies past the profile's floor (every destination when not isolated)."""


class VolumeEntry(Part):
    """A persistent volume claim of the namespace and where its data lives."""

    claim: str
    storage_class: str | None = None
    volume: str | None = None
    """The bound PersistentVolume; empty while the claim is pending."""
    region: str | None = None
    zone: str | None = None
    resident: bool | None = None
    """Whether the bound volume lies inside the profile's topology or qualified nodes;
    empty while unbound or when it cannot be told."""
    reason: str | None = None
    message: str | None = None


class SnapshotEntry(Part):
    """A VolumeSnapshot of the namespace, its content, and where it lives when the
    driver says so."""

    name: str
    snapshot_class: str | None = None
    """spec.volumeSnapshotClassName (or the class of its content)."""
    class_allowed: bool | None = None
    """Whether the profile's storage.allowedSnapshotClasses lists the class; empty
    without a readable profile."""
    source_claim: str | None = None
    """The claim it was taken from; empty for a pre-provisioned content."""
    content: str | None = None
    """The bound VolumeSnapshotContent (status.boundVolumeSnapshotContentName); empty
    while unbound."""
    driver: str | None = None
    """The CSI driver of the content."""
    snapshot_handle: str | None = None
    """The storage system's identifier of the snapshot, from the content."""
    region: str | None = None
    zone: str | None = None
    location_from: str | None = None
    """What said where it lives: the content's topology labels or a parameter of its
    class; empty when nothing does."""
    resident: bool | None = None
    """Whether its region and zone lie inside the profile's topology; empty while
    unbound or when nothing says where it lives."""
    message: str | None = None


class EgressEntry(Part):
    """A NetworkPolicy of the namespace that allows egress."""

    policy: str
    managed: bool
    """Whether the operator keeps it (part of the egress floor)."""
    rules: list[str] = Field(default_factory=list)
    """Destinations it allows, in words."""


class ServiceEntry(Part):
    """A Service of the namespace that can be reached from outside the cluster."""

    name: str
    type: str
    """ClusterIP, NodePort, LoadBalancer or ExternalName."""
    node_ports: list[int] = Field(default_factory=list)
    """The node ports it opens on every node."""
    external_ips: list[str] = Field(default_factory=list, alias="externalIPs")
    load_balancer_addresses: list[str] = Field(default_factory=list)
    """The addresses its load balancer gave (status.loadBalancer.ingress)."""
    outside_profile: list[str] = Field(default_factory=list)
    """What of that the profile's spec.exposure does not allow."""


class PodSecurityEntry(Part):
    """The Pod Security Standard the API server holds the namespace's pods to."""

    level: str
    """The level the profile asks for (spec.podSecurity.level)."""
    version: str
    enforced: str | None = None
    """The namespace's pod-security.kubernetes.io/enforce label as it is; empty when it
    has none."""
    enforced_version: str | None = None


class ImageEntry(Part):
    """An image the namespace's pods run, and the registry it comes from."""

    image: str
    """The reference as the pods write it."""
    registry: str | None = None
    """The registry the container runtime pulls it from; empty when it cannot be read."""
    repository: str | None = None
    """The registry and path it names, as the profile's allowedRegistries are compared."""
    allowed: bool | None = None
    """Whether the profile's registries cover it (every image when the profile lists
    none); empty without a readable profile."""
    pods: list[str] = Field(default_factory=list)
    """The pods that run it."""


ViolationKind = Literal[
    "PodOnUnqualifiedNode",
    "PodEgressOutsideProfile",
    "NonResidentVolume",
    "ImageOutsideRegistries",
    "SnapshotClassNotAllowed",
    "NonResidentSnapshot",
    "EgressOutsideProfile",
    "ServiceExposed",
    "PodSecurityNotEnforced",
    "NotReady",
]


class Violation(Part):
    """Something that breaks the profile, and when it was seen."""

    kind: ViolationKind
    object: str
    """Kind/name of the object concerned."""
    message: str
    seen_at: datetime
    """When it was first seen (the condition's transition time), or when this report
    observed it."""


class HistoryInterval(Part):
    """A violation as the namespace's history recorded it."""

    kind: str
    object: str
    """Kind/name of the object concerned."""
    message: str = ""
    start: datetime
    """When the operator first observed it."""
    end: datetime | None = None
    """When the operator no longer observed it; empty while it is open (until now)."""
    started_before: bool = False
    """It began before the oldest record kept: start is where the kept records begin."""


class Stretch(Part):
    """A span of time."""

    start: datetime
    end: datetime


class NamespaceHistory(Part):
    """What the namespace's violation history says of [since, until]."""

    since: datetime
    until: datetime
    """When the report was made: open violations last until then."""
    records: int
    """Records since the history began, dropped ones included."""
    chain: str
    """``intact``, or the first problem ``souverain report --verify`` finds."""
    covered: list[Stretch] = Field(default_factory=list)
    """When the operator observed the namespace (from a genesis or observer record to
    the last record of that observer)."""
    violations: list[HistoryInterval] = Field(default_factory=list)
    clean: list[Stretch] = Field(default_factory=list)
    """Observed stretches with no violation at all."""
    unobserved: list[Stretch] = Field(default_factory=list)
    """Stretches between two observers, when nothing was observed."""
    statements: list[str] = Field(default_factory=list)
    """The history in words, in time order."""


class NamespaceReport(Part):
    """One sovereign namespace."""

    name: str
    profile: str
    mode: str | None = None
    """The profile's enforcement mode: Enforce or Audit."""
    ready: str | None = None
    """The status of the SovereignNamespace's Ready condition."""
    nodes: list[NodeEntry] = Field(default_factory=list)
    pods: list[PodEntry] = Field(default_factory=list)
    volumes: list[VolumeEntry] = Field(default_factory=list)
    snapshots: list[SnapshotEntry] = Field(default_factory=list)
    egress: list[EgressEntry] = Field(default_factory=list)
    services: list[ServiceEntry] = Field(default_factory=list)
    """Services reachable from outside the cluster (LoadBalancer, NodePort, externalIPs)."""
    pod_security: PodSecurityEntry | None = None
    allowed_registries: list[str] = Field(default_factory=list)
    """The profile's images.allowedRegistries; empty means any registry."""
    images: list[ImageEntry] = Field(default_factory=list)
    registries: list[str] = Field(default_factory=list)
    """The registries the namespace's images come from."""
    enforcement_layers: list[str] = Field(default_factory=list)
    """Mechanisms enforcing the profile in this namespace on this cluster."""
    violations: list[Violation] = Field(default_factory=list)
    history: NamespaceHistory | None = None
    """The violation history since the date ``souverain report --since`` names."""


class Summary(Part):
    namespaces: int
    violations: int
    compliant_pods: int
    non_compliant_pods: int
    pods_with_egress_outside_profile: int = 0
    pods_with_images_outside_registries: int = 0
    resident_volumes: int
    non_resident_volumes: int


class Report(Part):
    """The residency report of a cluster, or of one namespace."""

    api_version: Literal["souverain.io/report/v1"] = REPORT_API_VERSION
    generated_at: datetime
    cluster: str
    """The API server the report was read from."""
    cluster_layers: list[str] = Field(default_factory=list)
    """Enforcement mechanisms present cluster-wide (admission policies, webhooks)."""
    summary: Summary
    namespaces: list[NamespaceReport] = Field(default_factory=list)


def json_schema() -> str:
    """The JSON schema of the report, as committed in ``docs/report-schema.json``."""
    import json

    schema = Report.model_json_schema(by_alias=True)
    schema["$id"] = "https://souverain.io/schemas/report-v1.json"
    schema["title"] = f"souverain residency report ({REPORT_API_VERSION})"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"
