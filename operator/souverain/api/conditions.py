"""Status conditions: their shape, their types and reasons, and how they change.

Types and reasons are the words ``kubectl wait --for=condition=...``, Argo CD and
Flux health checks, alerts and people read; they are defined here and nowhere else.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Annotated, Final, Literal

from pydantic import AwareDatetime, Field, PlainSerializer

from souverain.api.names import QUALIFIED_NAME_PATTERN
from souverain.api.resource import StatusModel

# -- condition types -------------------------------------------------------

READY: Final = "Ready"
"""Summary condition of every kind: the object does what it says."""

VALID: Final = "Valid"
"""Profile: the spec is consistent and can be turned into enforcement objects."""

NAMESPACE_READY: Final = "NamespaceReady"
"""Namespace: the Namespace exists, is owned by the SovereignNamespace and carries its labels."""
EGRESS_RESTRICTED: Final = "EgressRestricted"
"""Namespace: egress is limited to DNS, the namespace itself and the allow-list."""
PLACEMENT_ENFORCED: Final = "PlacementEnforced"
"""Namespace: pods are pinned to qualified nodes by admission policies and webhooks."""
COMPLIANT: Final = "Compliant"
"""Namespace: every pod runs on a qualified node."""
ENFORCED: Final = "Enforced"
"""Namespace: the API server was seen refusing each layer's escape, as an owner would try
it (a dry run); profile: it was, in every namespace bound to it, with its generation."""

BOUND: Final = "Bound"
"""Volume: the claim is bound to a persistent volume."""
RESIDENT: Final = "Resident"
"""Volume: the bound volume sits inside the profile's storage classes and topology."""

PROFILE_CONDITIONS: Final = (READY, VALID, ENFORCED)
NAMESPACE_CONDITIONS: Final = (
    READY,
    NAMESPACE_READY,
    EGRESS_RESTRICTED,
    PLACEMENT_ENFORCED,
    COMPLIANT,
    ENFORCED,
)
VOLUME_CONDITIONS: Final = (READY, BOUND, RESIDENT)

# -- reasons ---------------------------------------------------------------

RECONCILED: Final = "Reconciled"
"""Everything the condition covers is in place."""
RECONCILING: Final = "Reconciling"
"""The operator is still creating or repairing objects."""
RECONCILE_FAILED: Final = "ReconcileFailed"
"""The operator could not apply an object; the message says which and why."""

SPEC_VALID: Final = "SpecValid"
SPEC_INVALID: Final = "SpecInvalid"
NODES_QUALIFIED: Final = "NodesQualified"
"""At least one node meets the profile's node requirements."""
NO_QUALIFIED_NODES: Final = "NoQualifiedNodes"
"""No node meets the node requirements: bound namespaces cannot run pods."""

PROFILE_IN_USE: Final = "ProfileInUse"
"""The profile is being deleted while SovereignNamespaces still use it: it stays until they go."""
PROFILE_DELETING: Final = "ProfileDeleting"
"""The namespace's profile is being deleted: it stays in force there until the namespace goes."""
PROFILE_NOT_FOUND: Final = "ProfileNotFound"
PROFILE_NOT_READY: Final = "ProfileNotReady"
NAMESPACE_CREATED: Final = "NamespaceCreated"
NAMESPACE_CONFLICT: Final = "NamespaceConflict"
"""A Namespace of that name exists and is not owned by this SovereignNamespace."""
NAMESPACE_TERMINATING: Final = "NamespaceTerminating"
NAMESPACE_DELETED: Final = "NamespaceDeleted"
"""Event: the SovereignNamespace was deleted with policy Delete, and its Namespace too."""
NAMESPACE_RETAINED: Final = "NamespaceRetained"
"""Event: the SovereignNamespace was deleted with policy Retain; the Namespace stays."""
NETWORK_POLICY_APPLIED: Final = "NetworkPolicyApplied"
EGRESS_OUTSIDE_PROFILE: Final = "EgressOutsideProfile"
"""The namespace asks for egress the profile does not allow."""
EGRESS_PARTIALLY_ENFORCED: Final = "EgressPartiallyEnforced"
"""Some rules (FQDNs without a CNI that supports them) cannot be enforced."""
ADMISSION_POLICY_APPLIED: Final = "AdmissionPolicyApplied"
AUDIT_ONLY: Final = "AuditOnly"
"""The profile's enforcement mode is Audit: violations are reported, not refused."""
ALL_PODS_COMPLIANT: Final = "AllPodsCompliant"
NON_COMPLIANT_PODS: Final = "NonCompliantPods"

# Enforcement: what the API server answered the operator's probes.
ESCAPES_REFUSED: Final = "EscapesRefused"
"""Every layer refused the escape it exists for (or pinned, for the pinning layer)."""
LAYER_NOT_IN_FORCE: Final = "LayerNotInForce"
"""A layer admitted its escape, or another check refused it first; the message says which."""
PROBE_UNANSWERED: Final = "ProbeUnanswered"
"""The API server cannot judge a probe yet: the probe's grant, the namespace's
ServiceAccount or the profile's new generation has not reached admission."""
NO_NAMESPACE_BOUND: Final = "NoNamespaceBound"
"""Profile: no namespace is bound, so no request can show its policies in force."""

# Placement: pinning, refusal and drift of pods.
NO_PLACEMENT_LAYER: Final = "NoPlacementLayer"
"""Neither admission policies nor the webhook pin pods: the cluster serves no
MutatingAdmissionPolicy and the operator runs no webhook."""
POD_PINNED: Final = "PodPinned"
"""Event on a new pod: admitted pinned to the profile's nodes, and scheduled on one."""
POD_ON_UNQUALIFIED_NODE: Final = "PodOnUnqualifiedNode"
"""Event on a pod: it runs on a node that does not meet its profile's node requirements."""
POD_EVICTED: Final = "PodEvicted"
"""Event on a pod: evicted from a node that does not qualify, to be recreated elsewhere."""
EVICTION_BLOCKED: Final = "EvictionBlocked"
"""Event on a pod: the Eviction API refused (a PodDisruptionBudget); the operator retries."""

CLAIM_PENDING: Final = "ClaimPending"
CLAIM_BOUND: Final = "ClaimBound"
CLAIM_LOST: Final = "ClaimLost"
NAMESPACE_NOT_SOVEREIGN: Final = "NamespaceNotSovereign"
"""The volume's namespace is not bound to a profile by a SovereignNamespace."""
STORAGE_CLASS_NOT_ALLOWED: Final = "StorageClassNotAllowed"
WITHIN_TOPOLOGY: Final = "WithinTopology"
OUTSIDE_TOPOLOGY: Final = "OutsideTopology"
TOPOLOGY_UNKNOWN: Final = "TopologyUnknown"
"""The bound volume carries no region or zone the operator can check."""

# Resident volumes: why a claim is not made, and what happens to it.
NO_STORAGE_CLASS: Final = "NoStorageClass"
"""Neither the ResidentVolume nor its profile names a storage class."""
STORAGE_CLASS_NOT_FOUND: Final = "StorageClassNotFound"
STORAGE_CLASS_BINDS_ANYWHERE: Final = "StorageClassBindsAnywhere"
"""The class binds volumes at once (not WaitForFirstConsumer) and its allowedTopologies do
not keep them inside the profile's regions, zones or qualified nodes."""
CLAIM_CONFLICT: Final = "ClaimConflict"
"""A PersistentVolumeClaim of that name exists and does not belong to the ResidentVolume."""
CLAIM_CREATED: Final = "ClaimCreated"
CLAIM_RESIZED: Final = "ClaimResized"
CLAIM_RETAINED: Final = "ClaimRetained"
"""Event: the ResidentVolume was deleted with reclaim Retain; its claim and data stay."""
CLAIM_DELETED: Final = "ClaimDeleted"
"""Event: the ResidentVolume was deleted with reclaim Delete, and its claim too."""

# -- shape -----------------------------------------------------------------

ConditionStatus = Literal["True", "False", "Unknown"]

REASON_PATTERN = "^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$"


def _rfc3339(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


Timestamp = Annotated[AwareDatetime, PlainSerializer(_rfc3339, return_type=str)]
"""A moment, written as RFC 3339 in UTC to the second, as ``metav1.Time`` is."""


class Condition(StatusModel):
    """One aspect of the object's state, as the Kubernetes API conventions define it."""

    type: str = Field(max_length=316, pattern=QUALIFIED_NAME_PATTERN)
    """Type of the condition, in CamelCase, such as Ready."""
    status: ConditionStatus
    """True, False or Unknown."""
    reason: str = Field(min_length=1, max_length=1024, pattern=REASON_PATTERN)
    """Why the condition has its status: one CamelCase word for machines."""
    message: str = Field(default="", max_length=32768)
    """Why the condition has its status, for people."""
    last_transition_time: Timestamp = Field(json_schema_extra={"maxLength": 64})
    """When the status last changed (not when the condition was last written)."""
    observed_generation: int | None = Field(default=None, ge=0)
    """The metadata.generation the condition was computed from."""


def with_condition(conditions: Iterable[Condition], new: Condition) -> list[Condition]:
    """``conditions`` with ``new`` in place of the condition of its type (or appended).

    ``new.last_transition_time`` is taken only when the status flips: a condition
    that keeps its status keeps its time, so writing it again changes nothing.
    """
    result: list[Condition] = []
    found = False
    for existing in conditions:
        if existing.type != new.type:
            result.append(existing)
            continue
        found = True
        if existing.status == new.status:
            new = new.model_copy(update={"last_transition_time": existing.last_transition_time})
        result.append(new)
    if not found:
        result.append(new)
    return result


def find_condition(conditions: Iterable[Condition], condition_type: str) -> Condition | None:
    """The condition of that type, if any."""
    return next((c for c in conditions if c.type == condition_type), None)
