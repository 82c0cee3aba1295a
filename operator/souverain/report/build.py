"""From what was read in the cluster to the report: pure, so that it is tested without one."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from souverain.api import SovereigntyProfileSpec
from souverain.outcomes.egress import Floor, effective_egress
from souverain.reconcile.qualification import qualifies
from souverain.reconcile.residency import residency
from souverain.report import images
from souverain.report.exposure import exposure_and_security
from souverain.report.schema import (
    EgressEntry,
    NamespaceReport,
    NodeEntry,
    PodEntry,
    Report,
    Summary,
    Violation,
    VolumeEntry,
)
from souverain.report.snapshots import snapshot_report

REGION = "topology.kubernetes.io/region"
ZONE = "topology.kubernetes.io/zone"


@dataclass
class ClusterState:
    """Everything the report needs, as read from the API server (plain objects)."""

    server: str
    now: datetime
    sovereign_namespaces: list[dict[str, Any]]
    profiles: dict[str, dict[str, Any]]
    nodes: dict[str, dict[str, str]]
    """Node name -> labels."""
    pods: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    claims: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    volumes: dict[str, dict[str, Any]] = field(default_factory=dict)
    """PersistentVolume name -> object."""
    network_policies: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    services: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    namespace_labels: dict[str, dict[str, str]] = field(default_factory=dict)
    """Namespace name -> its labels as they are."""
    snapshots: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    """Namespace -> its VolumeSnapshots (none when the cluster serves no snapshot API)."""
    snapshot_contents: dict[str, dict[str, Any]] = field(default_factory=dict)
    snapshot_classes: dict[str, dict[str, Any]] = field(default_factory=dict)
    cluster_layers: list[str] = field(default_factory=list)


def _conditions(obj: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in (obj.get("status") or {}).get("conditions") or []}


def _seen(condition: Mapping[str, Any] | None, now: datetime) -> datetime:
    if condition and condition.get("lastTransitionTime"):
        return datetime.fromisoformat(str(condition["lastTransitionTime"]).replace("Z", "+00:00"))
    return now


def _peer(peer: Mapping[str, Any]) -> str:
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        text = str(block.get("cidr"))
        if block.get("except"):
            text += " except " + ", ".join(block["except"])
        return text
    parts = []
    if "namespaceSelector" in peer:
        selector = peer["namespaceSelector"] or {}
        labels = selector.get("matchLabels") or {}
        parts.append(
            "namespaces " + (", ".join(f"{k}={v}" for k, v in sorted(labels.items())) or "(all)")
        )
    if "podSelector" in peer:
        labels = (peer["podSelector"] or {}).get("matchLabels") or {}
        what = ", ".join(f"{k}={v}" for k, v in sorted(labels.items()))
        parts.append(f"pods {what}" if what else "all pods")
    if "namespaceSelector" not in peer:
        parts.append("in this namespace")
    return " ".join(parts)


def egress_rules(policy: Mapping[str, Any]) -> list[str]:
    """The destinations a NetworkPolicy's egress rules allow, in words."""
    spec = policy.get("spec") or {}
    if "Egress" not in (spec.get("policyTypes") or []) and not spec.get("egress"):
        return []
    rules = []
    for rule in spec.get("egress") or []:
        to = rule.get("to") or []
        where = "; ".join(_peer(peer) for peer in to) if to else "any destination"
        ports = rule.get("ports") or []
        if ports:
            where += " on " + ", ".join(
                f"{p.get('protocol', 'TCP')}/{p.get('port', '*')}"
                + (f"-{p['endPort']}" if p.get("endPort") else "")
                for p in ports
            )
        rules.append(where)
    return rules or ["nothing (deny all)"]


def namespace_report(sns: Mapping[str, Any], state: ClusterState) -> NamespaceReport:
    """The report of one sovereign namespace."""
    name = sns["metadata"]["name"]
    profile_name = str((sns.get("spec") or {}).get("profileName", ""))
    profile = state.profiles.get(profile_name)
    spec: SovereigntyProfileSpec | None = None
    if profile is not None:
        try:
            spec = SovereigntyProfileSpec.model_validate(profile.get("spec") or {})
        except ValidationError:
            spec = None
    conditions = _conditions(sns)
    report = NamespaceReport(
        name=name,
        profile=profile_name,
        mode=spec.enforcement.mode if spec else None,
        ready=(conditions.get("Ready") or {}).get("status"),
        enforcement_layers=list((sns.get("status") or {}).get("enforcementLayers") or []),
    )
    keys = sorted({r.key for r in spec.node_requirements}) if spec else []
    floor = _floor(profile_name, name, spec)
    policies = state.network_policies.get(name, [])
    used_nodes: set[str] = set()
    compliant_since = conditions.get("Compliant")
    for pod in state.pods.get(name, []):
        node = (pod.get("spec") or {}).get("nodeName")
        phase = (pod.get("status") or {}).get("phase")
        if phase in ("Succeeded", "Failed"):
            continue
        compliant = None
        if node and spec is not None:
            compliant = node in state.nodes and qualifies(state.nodes[node], spec.node_requirements)
            used_nodes.add(node)
        entry = PodEntry(name=pod["metadata"]["name"], node=node, phase=phase, compliant=compliant)
        if floor is not None:
            labels = dict(pod["metadata"].get("labels") or {})
            outcome = effective_egress(labels, policies, floor)
            entry.egress_isolated = outcome.isolated
            entry.egress = outcome.destinations
            entry.egress_outside_profile = outcome.escapes
            if outcome.escapes:
                report.violations.append(
                    Violation(
                        kind="PodEgressOutsideProfile",
                        object=f"Pod/{entry.name}",
                        message=f"can reach past SovereigntyProfile {profile_name}: "
                        + "; ".join(outcome.escapes),
                        seen_at=state.now,
                    )
                )
        report.pods.append(entry)
        if compliant is False:
            report.violations.append(
                Violation(
                    kind="PodOnUnqualifiedNode",
                    object=f"Pod/{pod['metadata']['name']}",
                    message=f"runs on node {node}, which does not meet the node requirements "
                    f"of SovereigntyProfile {profile_name}",
                    seen_at=_seen(
                        compliant_since
                        if compliant_since and compliant_since.get("status") == "False"
                        else None,
                        state.now,
                    ),
                )
            )
    images.add_images(report, state.pods.get(name, []), profile_name, spec, state.now)
    for node in sorted(used_nodes):
        labels = state.nodes.get(node, {})
        report.nodes.append(
            NodeEntry(
                name=node,
                qualified=bool(spec)
                and node in state.nodes
                and qualifies(labels, spec.node_requirements if spec else []),
                region=labels.get(REGION),
                zone=labels.get(ZONE),
                jurisdiction={key: labels[key] for key in keys if key in labels},
            )
        )
    for claim in state.claims.get(name, []):
        report.volumes.append(_volume(claim, profile_name, spec, state, report))
    report.snapshots, found = snapshot_report(
        profile_name,
        spec,
        state.snapshots.get(name, []),
        state.snapshot_contents,
        state.snapshot_classes,
        state.now,
    )
    report.violations += found
    for policy in state.network_policies.get(name, []):
        rules = egress_rules(policy)
        if rules:
            managed = (policy["metadata"].get("labels") or {}).get(
                "app.kubernetes.io/managed-by"
            ) == "souverain"
            report.egress.append(
                EgressEntry(policy=policy["metadata"]["name"], managed=managed, rules=rules)
            )
    if spec is not None:
        exposure_and_security(
            report, spec, state.services.get(name, []), state.namespace_labels.get(name), state.now
        )
    egress_condition = conditions.get("EgressRestricted")
    if egress_condition and egress_condition.get("reason") == "EgressOutsideProfile":
        report.violations.append(
            Violation(
                kind="EgressOutsideProfile",
                object=f"SovereignNamespace/{name}",
                message=str(egress_condition.get("message", "")),
                seen_at=_seen(egress_condition, state.now),
            )
        )
    ready = conditions.get("Ready")
    if ready is None or ready.get("status") != "True":
        report.violations.append(
            Violation(
                kind="NotReady",
                object=f"SovereignNamespace/{name}",
                message=str((ready or {}).get("message") or "the operator has not reported yet"),
                seen_at=_seen(ready, state.now),
            )
        )
    return report


def _floor(profile: str, namespace: str, spec: SovereigntyProfileSpec | None) -> Floor | None:
    """What the profile lets the namespace's pods reach, for the effective egress."""
    if spec is None:
        return None
    networks = tuple(
        {
            "cidr": rule.cidr,
            "except": list(rule.except_),
            "ports": [port.model_dump(by_alias=True, exclude_none=True) for port in rule.ports],
        }
        for rule in spec.egress.cidrs
    )
    return Floor(profile, namespace, spec.egress.allow_dns, networks)


def _volume(
    claim: Mapping[str, Any],
    profile_name: str,
    spec: SovereigntyProfileSpec | None,
    state: ClusterState,
    report: NamespaceReport,
) -> VolumeEntry:
    claim_spec = claim.get("spec") or {}
    entry = VolumeEntry(
        claim=claim["metadata"]["name"],
        storage_class=claim_spec.get("storageClassName"),
        volume=claim_spec.get("volumeName") or None,
    )
    volume = state.volumes.get(entry.volume or "")
    if volume is None or spec is None or (claim.get("status") or {}).get("phase") != "Bound":
        return entry
    found = residency(volume, profile_name, spec, state.nodes)
    entry.region, entry.zone = found.region, found.zone
    entry.reason, entry.message = found.reason, found.message
    entry.resident = {"True": True, "False": False}.get(found.status)
    if entry.resident is False:
        report.violations.append(
            Violation(
                kind="NonResidentVolume",
                object=f"PersistentVolumeClaim/{entry.claim}",
                message=found.message,
                seen_at=state.now,
            )
        )
    return entry


def build_report(state: ClusterState, namespace: str | None = None) -> Report:
    """The report of every sovereign namespace, or of one."""
    namespaces = [
        namespace_report(sns, state)
        for sns in sorted(state.sovereign_namespaces, key=lambda s: s["metadata"]["name"])
        if namespace is None or sns["metadata"]["name"] == namespace
    ]
    pods = [p for n in namespaces for p in n.pods]
    volumes = [v for n in namespaces for v in n.volumes]
    return Report(
        generated_at=state.now,
        cluster=state.server,
        cluster_layers=state.cluster_layers,
        summary=Summary(
            namespaces=len(namespaces),
            violations=sum(len(n.violations) for n in namespaces),
            compliant_pods=sum(1 for p in pods if p.compliant is True),
            non_compliant_pods=sum(1 for p in pods if p.compliant is False),
            pods_with_egress_outside_profile=sum(1 for p in pods if p.egress_outside_profile),
            pods_with_images_outside_registries=images.pods_outside(namespaces),
            resident_volumes=sum(1 for v in volumes if v.resident is True),
            non_resident_volumes=sum(1 for v in volumes if v.resident is False),
        ),
        namespaces=namespaces,
    )
