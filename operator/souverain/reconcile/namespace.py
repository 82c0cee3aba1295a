"""What a SovereignNamespace should hold: its Namespace, its owners' RoleBinding, its
egress floor, and the conditions that say how far it got."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from souverain import labels
from souverain.api import Condition, SovereignNamespace, SovereigntyProfileSpec
from souverain.api import conditions as c
from souverain.api.resource import GROUP_VERSION
from souverain.reconcile import egress
from souverain.reconcile.conditions import condition
from souverain.reconcile.probe_objects import probe_binding

OWNERS_BINDING: Final = "souverain-owners"
OWNER_ROLE: Final = "admin"


@dataclass(frozen=True)
class Capabilities:
    """What the cluster serves beyond core Kubernetes, found by discovery."""

    cilium: bool = False
    """cilium.io/v2 CiliumNetworkPolicy, which can enforce FQDN rules."""
    admission_policies: bool = True
    """admissionregistration.k8s.io/v1 ValidatingAdmissionPolicy."""


@dataclass
class NamespacePlan:
    """The desired objects of one SovereignNamespace and the conditions they imply.

    ``namespace`` is None when the Namespace must be left as it is (no profile yet, or
    it is being deleted); ``children`` lists every object the operator keeps in it, so
    that managed objects not listed are stale and go.
    """

    namespace: dict[str, Any] | None
    children: list[dict[str, Any]] = field(default_factory=list)
    conditions: list[Condition] = field(default_factory=list)
    enforcement_layers: list[str] = field(default_factory=list)
    unenforceable_egress: list[str] = field(default_factory=list)
    refused_egress: list[str] = field(default_factory=list)
    owners: dict[str, Any] | None = None
    """The owners' RoleBinding: applied only once the API server is seen enforcing what
    protects the namespace (see :mod:`souverain.reconcile.enforcement`), so that owners
    cannot act in it before."""
    enforcement: Any = None
    """What the API server answered the probes of this pass
    (:class:`souverain.reconcile.enforcement.Enforcement`), once converged."""


def owner_reference(sns: SovereignNamespace) -> dict[str, Any]:
    """The reference that ties a managed object to its SovereignNamespace."""
    return {
        "apiVersion": GROUP_VERSION,
        "kind": "SovereignNamespace",
        "name": sns.metadata.name,
        "uid": sns.metadata.uid,
        "controller": True,
    }


def desired_namespace(
    sns: SovereignNamespace,
    profile: SovereigntyProfileSpec | None,
    observed: dict[str, Any] | None,
) -> dict[str, Any]:
    """The Namespace fields the operator owns: its labels and annotations.

    A namespace created by the operator says so in ``app.kubernetes.io/managed-by``; an
    adopted one keeps the manager it had.
    """
    wanted = namespace_labels(sns, profile)
    current = ((observed or {}).get("metadata") or {}).get("labels") or {}
    if current.get(labels.MANAGED_BY, labels.MANAGED_BY_VALUE) == labels.MANAGED_BY_VALUE:
        wanted[labels.MANAGED_BY] = labels.MANAGED_BY_VALUE
    metadata: dict[str, Any] = {"name": sns.metadata.name, "labels": wanted}
    if sns.spec.annotations:
        metadata["annotations"] = dict(sns.spec.annotations)
    return {"apiVersion": "v1", "kind": "Namespace", "metadata": metadata}


def namespace_labels(
    sns: SovereignNamespace, profile: SovereigntyProfileSpec | None = None
) -> dict[str, str]:
    """The labels the operator keeps on the Namespace of ``sns`` whoever manages it: those
    it asks for, its binding, and the Pod Security level of its profile."""
    wanted = dict(sns.spec.labels)
    if profile is not None:
        security = profile.pod_security
        wanted.update(labels.pod_security_labels(security.level, security.version))
    wanted[labels.PROFILE] = sns.spec.profile_name
    wanted[labels.SOVEREIGN_NAMESPACE] = sns.metadata.name
    return wanted


def released_namespace(sns: SovereignNamespace) -> dict[str, Any]:
    """The Namespace fields the operator still applies once ``sns`` is deleted with policy
    Retain: the requested labels and annotations, and a label saying it was kept. Applied
    as the operator's field manager, this drops the labels only the operator set."""
    return {
        "apiVersion": "v1",
        "kind": "Namespace",
        "metadata": {
            "name": sns.metadata.name,
            "labels": {**sns.spec.labels, labels.RETAINED: "true"},
            "annotations": dict(sns.spec.annotations),
        },
    }


def owners_binding(sns: SovereignNamespace) -> dict[str, Any] | None:
    """A RoleBinding giving the owners the ``admin`` ClusterRole, or None without owners."""
    if not sns.spec.owners:
        return None
    subjects = []
    for owner in sns.spec.owners:
        subject: dict[str, Any] = {"kind": owner.kind, "name": owner.name}
        if owner.kind == "ServiceAccount":
            subject["namespace"] = owner.namespace
        else:
            subject["apiGroup"] = "rbac.authorization.k8s.io"
        subjects.append(subject)
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": OWNERS_BINDING, "namespace": sns.metadata.name},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": OWNER_ROLE,
        },
        "subjects": subjects,
    }


def _managed(obj: dict[str, Any], sns: SovereignNamespace) -> dict[str, Any]:
    metadata = obj["metadata"]
    metadata["labels"] = {**metadata.get("labels", {}), **labels.managed_labels(sns.metadata.name)}
    metadata["ownerReferences"] = [owner_reference(sns)]
    return obj


def namespace_layers(*, cilium: bool, admission_policies: bool) -> list[str]:
    """The enforcement layers of a namespace's own objects, in the order its status lists
    them: the NetworkPolicies, the CiliumNetworkPolicy where one is applied, and the
    validating policies where the API server serves them."""
    layers = ["NetworkPolicy"]
    if cilium:
        layers.append("CiliumNetworkPolicy")
    if admission_policies:
        layers.append("ValidatingAdmissionPolicy")
    return layers


def plan_namespace(
    sns: SovereignNamespace,
    profile: SovereigntyProfileSpec | None,
    observed_namespace: dict[str, Any] | None,
    capabilities: Capabilities,
    now: datetime | None = None,
    *,
    profile_deleting: bool = False,
) -> NamespacePlan:
    """The desired state of ``sns`` given its profile (None when it does not exist) and
    the Namespace as observed (None when there is none). A profile being deleted
    (``profile_deleting``) stays in force here until the SovereignNamespace goes: its
    status says so."""
    generation = sns.metadata.generation
    name, profile_name = sns.metadata.name, sns.spec.profile_name

    def cond(kind: str, status: Any, reason: str, message: str) -> Condition:
        return condition(kind, status, reason, message, generation, now)

    if profile is None:
        message = f"SovereigntyProfile {profile_name} does not exist; nothing is enforced yet."
        return NamespacePlan(
            namespace=None,
            conditions=[
                cond(c.NAMESPACE_READY, "False", c.PROFILE_NOT_FOUND, message),
                cond(c.EGRESS_RESTRICTED, "False", c.PROFILE_NOT_FOUND, message),
            ],
        )
    if observed_namespace and observed_namespace.get("metadata", {}).get("deletionTimestamp"):
        message = f"Namespace {name} is being deleted."
        return NamespacePlan(
            namespace=None,
            conditions=[
                cond(c.NAMESPACE_READY, "False", c.NAMESPACE_TERMINATING, message),
                cond(c.EGRESS_RESTRICTED, "Unknown", c.NAMESPACE_TERMINATING, message),
            ],
        )

    refused = egress.egress_outside_profile(sns.spec.egress, profile.egress)
    accepted = sns.spec.egress
    if refused:
        accepted = accepted.model_copy(
            update={
                "cidrs": [
                    rule
                    for rule in accepted.cidrs
                    if any(egress.cidr_rule_within(rule, a) for a in profile.egress.cidrs)
                ],
                "fqdns": [
                    rule
                    for rule in accepted.fqdns
                    if any(egress.fqdn_within(rule, a) for a in profile.egress.fqdns)
                ],
            }
        )
    children = egress.egress_floor(name, profile.egress, accepted)
    fqdn_rules = [*profile.egress.fqdns, *accepted.fqdns]
    cilium = egress.fqdn_policy(name, fqdn_rules) if capabilities.cilium else None
    if cilium is not None:
        children.append(cilium)
    layers = namespace_layers(
        cilium=cilium is not None, admission_policies=capabilities.admission_policies
    )
    children.append(probe_binding(name))
    children = [_managed(child, sns) for child in children]
    binding = owners_binding(sns)
    owners = _managed(binding, sns) if binding is not None else None

    created = observed_namespace is None
    namespace_condition = cond(
        c.NAMESPACE_READY,
        "True",
        c.NAMESPACE_CREATED if created else c.RECONCILED,
        f"Namespace {name} is bound to SovereigntyProfile {profile_name}"
        + (" (created)" if created else "")
        + f"; its pods are held to Pod Security level {profile.pod_security.level}"
        f" ({profile.pod_security.version}).",
    )
    if profile_deleting:
        namespace_condition = cond(
            c.NAMESPACE_READY,
            "True",
            c.PROFILE_DELETING,
            f"SovereigntyProfile {profile_name} is being deleted: it stays, and everything "
            f"it enforces in Namespace {name} stays in force, until this SovereignNamespace "
            "is deleted or bound to another profile.",
        )
    unenforceable = egress.unenforceable_egress(profile.egress, accepted, capabilities.cilium)
    if refused:
        egress_condition = cond(
            c.EGRESS_RESTRICTED,
            "False",
            c.EGRESS_OUTSIDE_PROFILE,
            "Extra egress outside the allow-list of SovereigntyProfile "
            f"{profile_name} is not applied: {'; '.join(refused)}. "
            "Remove it from spec.egress or widen the profile.",
        )
    elif unenforceable:
        egress_condition = cond(
            c.EGRESS_RESTRICTED,
            "True",
            c.EGRESS_PARTIALLY_ENFORCED,
            "Egress is denied except DNS, the namespace and the allow-list; no network "
            "plugin here enforces FQDN rules, so their traffic stays denied: "
            + "; ".join(unenforceable),
        )
    else:
        egress_condition = cond(
            c.EGRESS_RESTRICTED,
            "True",
            c.NETWORK_POLICY_APPLIED,
            "Egress is denied except DNS, the namespace and the allow-list.",
        )
    return NamespacePlan(
        namespace=desired_namespace(sns, profile, observed_namespace),
        children=children,
        conditions=[namespace_condition, egress_condition],
        enforcement_layers=layers,
        unenforceable_egress=unenforceable,
        refused_egress=refused,
        owners=owners,
    )


def holds(desired: dict[str, Any], observed: dict[str, Any]) -> bool:
    """Whether the observed object holds exactly what the desired one says: its labels,
    and every other top-level field (empty lists and maps count as absent, as the API
    server stores them; fields the server adds, such as status, are ignored)."""
    wanted_labels = desired["metadata"].get("labels") or {}
    current_labels = observed["metadata"].get("labels") or {}
    if any(current_labels.get(k) != v for k, v in wanted_labels.items()):
        return False
    return all(
        _pruned(observed.get(key)) == _pruned(value)
        for key, value in desired.items()
        if key not in ("metadata", "apiVersion", "kind", "status")
    )


def _pruned(value: Any) -> Any:
    if isinstance(value, dict):
        pruned = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in pruned.items() if v not in ({}, [], None)}
    if isinstance(value, list):
        return [_pruned(item) for item in value]
    return value
