"""``souverain plan``: what a new or changed profile or SovereignNamespace would break,
computed from the cluster as it is, without changing anything."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import Field, ValidationError

from souverain.api import (
    CIDRRule,
    CustomResource,
    Port,
    SovereignNamespace,
    SovereigntyProfile,
    SovereigntyProfileSpec,
)
from souverain.api.egress import network
from souverain.api.resource import GROUP_VERSION
from souverain.outcomes.egress import NAME_LABEL, PROFILE_LABEL, selects_only
from souverain.outcomes.images import ANY_REGISTRY
from souverain.reconcile import egress
from souverain.reconcile.qualification import qualified_nodes, qualifies
from souverain.reconcile.residency import residency
from souverain.report.build import ClusterState
from souverain.report.exposure import pod_security_change, service_exposure
from souverain.report.images import refused_images
from souverain.report.schema import Part


class PlannedNamespace(Part):
    """What the change does to one sovereign namespace."""

    name: str
    non_compliant_pods: list[str] = Field(default_factory=list)
    """Pods that would run on nodes that do not qualify, as ``pod on node``."""
    non_resident_volumes: list[str] = Field(default_factory=list)
    """Bound claims whose volume would lie outside the topology, with why."""
    refused_egress: list[str] = Field(default_factory=list)
    """The namespace's extra egress the allow-list would refuse."""
    refused_network_policies: list[str] = Field(default_factory=list)
    """Tenant NetworkPolicies whose egress would reach outside the allow-list."""
    exposed_services: list[str] = Field(default_factory=list)
    """Services that would reach outside the cluster past spec.exposure, with how."""
    pod_security: str | None = None
    """How the namespace's Pod Security level would change, when it would."""
    snapshots_outside_classes: list[str] = Field(default_factory=list)
    """VolumeSnapshots whose class the allowed snapshot classes would not list."""
    refused_images: list[str] = Field(default_factory=list)
    """Pods running images from outside the registries, as ``pod: image is repository``."""


class Plan(Part):
    """The effect of applying one object."""

    kind: str
    name: str
    profile: str
    qualified_nodes: list[str] = Field(default_factory=list)
    allowed_registries: list[str] = Field(default_factory=list)
    """The registries images may come from; empty means any registry."""
    namespaces: list[PlannedNamespace] = Field(default_factory=list)

    @property
    def breaks_something(self) -> bool:
        return any(
            n.non_compliant_pods
            or n.non_resident_volumes
            or n.refused_egress
            or n.refused_network_policies
            or n.exposed_services
            or n.snapshots_outside_classes
            or n.refused_images
            for n in self.namespaces
        )


def _ports(rule: Mapping[str, Any]) -> list[Port] | None:
    """The ports of a NetworkPolicy rule as the API's model; None when one is named."""
    ports = []
    for port in rule.get("ports") or []:
        number = port.get("port")
        if number is None:
            continue  # every port of the protocol: handled as no ports below
        if not isinstance(number, int):
            return None
        ports.append(
            Port(protocol=port.get("protocol", "TCP"), port=number, end_port=port.get("endPort"))
        )
    if any(port.get("port") is None for port in rule.get("ports") or []):
        return []
    return ports


def wide_rules(policy: Mapping[str, Any], spec: SovereigntyProfileSpec, profile: str) -> list[str]:
    """The egress rules of a NetworkPolicy that reach outside the profile's allow-list
    (none in a policy whose policyTypes leave out Egress: its rules are ignored)."""
    types = (policy.get("spec") or {}).get("policyTypes")
    if types and "Egress" not in types:
        return []
    found = []
    for index, rule in enumerate((policy.get("spec") or {}).get("egress") or []):
        where = f"{policy['metadata']['name']} spec.egress[{index}]"
        peers = rule.get("to") or []
        if not peers:
            found.append(f"{where}: no 'to', so every destination")
            continue
        ports = _ports(rule)
        for peer in peers:
            if "ipBlock" in peer:
                block = peer["ipBlock"]
                candidate = CIDRRule.model_validate(
                    {
                        "cidr": str(network(block["cidr"])),
                        "except": block.get("except") or [],
                        "ports": [p.model_dump(by_alias=True) for p in ports or []],
                    }
                )
                if ports is None or not any(
                    egress.cidr_rule_within(candidate, allowed) for allowed in spec.egress.cidrs
                ):
                    found.append(f"{where}: {block['cidr']} is outside the allow-list")
            elif "namespaceSelector" in peer:
                selector = peer["namespaceSelector"] or {}
                namespace = str(policy["metadata"].get("namespace", ""))
                if not (
                    selects_only(selector, PROFILE_LABEL, profile)
                    or selects_only(selector, NAME_LABEL, namespace)
                ):
                    found.append(f"{where}: a namespaceSelector that reaches other namespaces")
    return found


def _namespace_effect(
    name: str,
    profile: str,
    spec: SovereigntyProfileSpec,
    sns: SovereignNamespace | None,
    state: ClusterState,
) -> PlannedNamespace:
    effect = PlannedNamespace(name=name)
    for pod in state.pods.get(name, []):
        node = (pod.get("spec") or {}).get("nodeName")
        if not node or (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
            continue
        labels = state.nodes.get(node)
        if labels is None or not qualifies(labels, spec.node_requirements):
            effect.non_compliant_pods.append(f"{pod['metadata']['name']} on {node}")
    for claim in state.claims.get(name, []):
        volume = state.volumes.get((claim.get("spec") or {}).get("volumeName") or "")
        if volume is None:
            continue
        found = residency(volume, profile, spec, state.nodes)
        if found.status == "False":
            effect.non_resident_volumes.append(f"{claim['metadata']['name']}: {found.message}")
    effect.refused_images = refused_images(state.pods.get(name, []), spec)
    if sns is not None:
        effect.refused_egress = egress.egress_outside_profile(sns.spec.egress, spec.egress)
    for policy in state.network_policies.get(name, []):
        labels = policy["metadata"].get("labels") or {}
        if labels.get("app.kubernetes.io/managed-by") == "souverain":
            continue
        effect.refused_network_policies += wide_rules(policy, spec, profile)
    for service in state.services.get(name, []):
        outside = service_exposure(service, spec)
        if outside:
            effect.exposed_services.append(f"{service['metadata']['name']}: {'; '.join(outside)}")
    effect.pod_security = pod_security_change(state.namespace_labels.get(name), spec)
    for snapshot in state.snapshots.get(name, []):
        snapshot_class = (snapshot.get("spec") or {}).get("volumeSnapshotClassName")
        if snapshot_class not in spec.storage.allowed_snapshot_classes:
            effect.snapshots_outside_classes.append(
                f"{snapshot['metadata']['name']}: "
                + (f"class {snapshot_class}" if snapshot_class else "no class")
            )
    return effect


PLANNED_KINDS: dict[str, type[CustomResource]] = {
    "SovereigntyProfile": SovereigntyProfile,
    "SovereignNamespace": SovereignNamespace,
}


def planned_object(document: object) -> dict[str, Any]:
    """``document`` (parsed YAML) when it is a SovereigntyProfile or SovereignNamespace
    that :func:`plan` takes; otherwise ValueError, in one line naming the field. The
    models of :mod:`souverain.api` say what each field must be."""
    if not isinstance(document, dict):
        raise ValueError(f"must be a mapping, not {type(document).__name__}")
    kind = document.get("kind")
    model = PLANNED_KINDS.get(kind) if isinstance(kind, str) else None
    if model is None:
        raise ValueError(f"kind: plan takes a {' or a '.join(PLANNED_KINDS)}, not {kind!r}")
    if document.get("apiVersion") != GROUP_VERSION:
        raise ValueError(f"apiVersion: must be {GROUP_VERSION}, not {document.get('apiVersion')!r}")
    try:
        model.model_validate({**document, "status": {}})
    except ValidationError as error:
        first, *others = error.errors()
        where = ".".join(str(part) for part in first["loc"]) or "the document"
        more = f" (and {len(others)} more)" if others else ""
        raise ValueError(f"{where}: {' '.join(first['msg'].split())}{more}") from None
    return document


def plan(obj: Mapping[str, Any], state: ClusterState) -> Plan:
    """The effect of applying ``obj`` (a SovereigntyProfile or a SovereignNamespace).

    Raises ValueError when the object is of another kind or names a profile that
    does not exist.
    """
    kind = obj.get("kind")
    name = str((obj.get("metadata") or {}).get("name", ""))
    if kind == "SovereigntyProfile":
        spec = SovereigntyProfileSpec.model_validate(obj.get("spec") or {})
        profile = name
        bound = [
            SovereignNamespace.model_validate({**sns, "status": {}})
            for sns in state.sovereign_namespaces
            if (sns.get("spec") or {}).get("profileName") == name
        ]
        targets = [(sns.metadata.name, sns) for sns in bound]
    elif kind == "SovereignNamespace":
        sns = SovereignNamespace.model_validate({**obj, "status": {}})
        profile = sns.spec.profile_name
        existing = state.profiles.get(profile)
        if existing is None:
            raise ValueError(f"SovereigntyProfile {profile} does not exist")
        spec = SovereigntyProfileSpec.model_validate(existing.get("spec") or {})
        targets = [(name, sns)]
    else:
        raise ValueError(f"plan takes a SovereigntyProfile or a SovereignNamespace, not {kind}")
    return Plan(
        kind=str(kind),
        name=name,
        profile=profile,
        qualified_nodes=qualified_nodes(state.nodes, spec.node_requirements),
        allowed_registries=list(spec.images.allowed_registries),
        namespaces=[
            _namespace_effect(target, profile, spec, sns_model, state)
            for target, sns_model in targets
        ],
    )


def describe(result: Plan) -> str:
    """The plan for people."""
    lines = [
        f"{result.kind} {result.name} (profile {result.profile})",
        f"  qualified nodes: {', '.join(result.qualified_nodes) or 'none'}",
        f"  allowed registries: {', '.join(result.allowed_registries) or ANY_REGISTRY}",
    ]
    if not result.namespaces:
        lines.append("  no sovereign namespace is bound to it")
    for namespace in result.namespaces:
        lines.append(f"  namespace {namespace.name}:")
        for title, items in (
            ("pods that would be non-compliant", namespace.non_compliant_pods),
            ("volumes that would be non-resident", namespace.non_resident_volumes),
            ("extra egress that would be refused", namespace.refused_egress),
            ("tenant NetworkPolicies that would be refused", namespace.refused_network_policies),
            ("Services that would be exposed past the profile", namespace.exposed_services),
            ("snapshots of a class it would not allow", namespace.snapshots_outside_classes),
            ("pods whose images would be refused", namespace.refused_images),
        ):
            lines.append(f"    {title}: {'none' if not items else ''}")
            lines += [f"      - {item}" for item in items]
        if namespace.pod_security:
            lines.append(f"    Pod Security: {namespace.pod_security}")
    lines.append(
        "  this change breaks something" if result.breaks_something else "  nothing breaks"
    )
    return "\n".join(lines) + "\n"
