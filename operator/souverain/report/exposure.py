"""The report's reading of how a namespace's Services reach outside the cluster, and of
its Pod Security level: recomputed from the objects as they are, with no code shared
with the admission policies, so that it also shows what admission let through (objects
made before the profile changed, or in Audit mode)."""

from __future__ import annotations

import ipaddress
from datetime import datetime
from typing import Any

from souverain import labels
from souverain.api import SovereigntyProfileSpec
from souverain.report.schema import NamespaceReport, PodSecurityEntry, ServiceEntry, Violation

EXPOSING_TYPES = ("NodePort", "LoadBalancer")


def service_exposure(service: dict[str, Any], spec: SovereigntyProfileSpec) -> list[str]:
    """What of a Service reaches outside the cluster past the profile, in words (empty when
    nothing does). Written apart from the admission policy's CEL, as the report's own
    reading: it also checks the addresses a load balancer gave
    (``status.loadBalancer.ingress``), which no tenant writes."""
    found = []
    body = service.get("spec") or {}
    kind = body.get("type") or "ClusterIP"
    exposure = spec.exposure
    if kind == "LoadBalancer" and not exposure.load_balancer:
        found.append("type LoadBalancer")
    if kind == "NodePort" and not exposure.node_port:
        found.append("type NodePort")
    if (
        kind == "LoadBalancer"
        and not exposure.node_port
        and body.get("allocateLoadBalancerNodePorts", True) is not False
    ):
        found.append("node ports of a LoadBalancer")
    if body.get("externalIPs") and not exposure.external_ips:
        found.append("externalIPs " + ", ".join(body["externalIPs"]))
    if kind == "LoadBalancer" and exposure.load_balancer_ip_ranges:
        ranges = [ipaddress.ip_network(r) for r in exposure.load_balancer_ip_ranges]
        given = [
            str(entry.get("ip"))
            for entry in ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress")
            or []
            if entry.get("ip")
        ]
        asked = body.get("loadBalancerIP")
        for address in dict.fromkeys([*([asked] if asked else []), *given]):
            try:
                parsed = ipaddress.ip_address(address)
            except ValueError:
                found.append(f"address {address}, which is not an IP address")
                continue
            if not any(parsed in network for network in ranges):
                found.append(f"address {address} outside {', '.join(map(str, ranges))}")
    return found


def _service_entry(service: dict[str, Any], spec: SovereigntyProfileSpec) -> ServiceEntry | None:
    body = service.get("spec") or {}
    kind = body.get("type") or "ClusterIP"
    if kind not in EXPOSING_TYPES and not body.get("externalIPs"):
        return None
    ingress = ((service.get("status") or {}).get("loadBalancer") or {}).get("ingress") or []
    return ServiceEntry(
        name=service["metadata"]["name"],
        type=kind,
        node_ports=[int(p["nodePort"]) for p in body.get("ports") or [] if p.get("nodePort")],
        externalIPs=list(body.get("externalIPs") or []),
        load_balancer_addresses=[
            str(entry.get("ip") or entry.get("hostname")) for entry in ingress if entry
        ],
        outside_profile=service_exposure(service, spec),
    )


def exposure_and_security(
    report: NamespaceReport,
    spec: SovereigntyProfileSpec,
    services: list[dict[str, Any]],
    namespace_labels: dict[str, str] | None,
    now: datetime,
) -> None:
    """Adds to ``report`` the namespace's exposed Services and its Pod Security level, and
    a violation for each that breaks the profile."""
    for service in sorted(services, key=lambda s: s["metadata"]["name"]):
        entry = _service_entry(service, spec)
        if entry is None:
            continue
        report.services.append(entry)
        if entry.outside_profile:
            report.violations.append(
                Violation(
                    kind="ServiceExposed",
                    object=f"Service/{entry.name}",
                    message="reaches outside the cluster past SovereigntyProfile "
                    f"{report.profile}: {'; '.join(entry.outside_profile)}",
                    seen_at=now,
                )
            )
    if namespace_labels is None:
        return
    wanted = spec.pod_security
    security = PodSecurityEntry(
        level=wanted.level,
        version=wanted.version,
        enforced=namespace_labels.get(labels.POD_SECURITY_ENFORCE),
        enforced_version=namespace_labels.get(labels.POD_SECURITY_ENFORCE_VERSION),
    )
    report.pod_security = security
    enforced = (security.enforced, security.enforced_version or "latest")
    if enforced != (wanted.level, wanted.version):
        report.violations.append(
            Violation(
                kind="PodSecurityNotEnforced",
                object=f"Namespace/{report.name}",
                message=f"SovereigntyProfile {report.profile} asks for Pod Security level "
                f"{wanted.level} ({wanted.version}); the namespace's "
                f"{labels.POD_SECURITY_ENFORCE} label is "
                + (f"{enforced[0]} ({enforced[1]})" if security.enforced else "missing"),
                seen_at=now,
            )
        )


def pod_security_change(
    namespace_labels: dict[str, str] | None, spec: SovereigntyProfileSpec
) -> str | None:
    """How the namespace's Pod Security level would change under ``spec``, in words, or
    None when it would stay as it is."""
    current = namespace_labels or {}
    before = (
        current.get(labels.POD_SECURITY_ENFORCE),
        current.get(labels.POD_SECURITY_ENFORCE_VERSION, "latest"),
    )
    wanted = spec.pod_security
    if before == (wanted.level, wanted.version):
        return None
    was = f"{before[0]} ({before[1]})" if before[0] else "none"
    return (
        f"{was} -> {wanted.level} ({wanted.version}); the API server refuses new pods that"
        " break it and warns about running ones (kubectl label --dry-run=server --overwrite"
        f" namespace NAME {labels.POD_SECURITY_ENFORCE}={wanted.level} lists them)"
    )
