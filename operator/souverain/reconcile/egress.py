"""The egress floor of a sovereign namespace, as NetworkPolicies, and the check that a
namespace's extra egress lies inside its profile's allow-list."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Final

from souverain.api import CIDRRule, EgressRules, FQDNRule, Port, ProfileEgress
from souverain.api.egress import network

DENY_ALL: Final = "souverain-deny-egress"
ALLOW_DNS: Final = "souverain-allow-dns"
ALLOW_NAMESPACE: Final = "souverain-allow-same-namespace"
ALLOW_PROFILE: Final = "souverain-allow-profile-egress"
ALLOW_EXTRA: Final = "souverain-allow-namespace-egress"
FQDN_POLICY: Final = "souverain-allow-fqdns"

POLICY_NAMES: Final = (DENY_ALL, ALLOW_DNS, ALLOW_NAMESPACE, ALLOW_PROFILE, ALLOW_EXTRA)

CLUSTER_DNS_PEER: Final = {
    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "kube-system"}},
    "podSelector": {"matchLabels": {"k8s-app": "kube-dns"}},
}
DNS_PORTS: Final = [{"protocol": "UDP", "port": 53}, {"protocol": "TCP", "port": 53}]


def _ports(ports: Iterable[Port]) -> list[dict[str, Any]]:
    return [port.model_dump(by_alias=True, exclude_none=True) for port in ports]


def _cidr_rule(rule: CIDRRule) -> dict[str, Any]:
    block: dict[str, Any] = {"cidr": rule.cidr}
    if rule.except_:
        block["except"] = list(rule.except_)
    egress: dict[str, Any] = {"to": [{"ipBlock": block}]}
    if rule.ports:
        egress["ports"] = _ports(rule.ports)
    return egress


def _policy(name: str, namespace: str, egress: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = {"podSelector": {}, "policyTypes": ["Egress"]}
    if egress:
        # No egress rules at all (the key left out) is what denies everything; the API
        # server stores an empty list as absent.
        spec["egress"] = egress
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": {"name": name, "namespace": namespace},
        "spec": spec,
    }


def egress_floor(
    namespace: str, profile: ProfileEgress, extra: EgressRules
) -> list[dict[str, Any]]:
    """The NetworkPolicies of the floor: deny all egress, then allow DNS, the namespace
    itself, the profile's networks and the namespace's extra networks.

    ``extra`` must already be checked with :func:`egress_outside_profile`; rules that
    would be empty are left out (and so deleted when they existed).
    """
    policies = [
        _policy(DENY_ALL, namespace, []),
        _policy(ALLOW_NAMESPACE, namespace, [{"to": [{"podSelector": {}}]}]),
    ]
    if profile.allow_dns:
        policies.append(
            _policy(ALLOW_DNS, namespace, [{"to": [dict(CLUSTER_DNS_PEER)], "ports": DNS_PORTS}])
        )
    if profile.cidrs:
        policies.append(
            _policy(ALLOW_PROFILE, namespace, [_cidr_rule(rule) for rule in profile.cidrs])
        )
    if extra.cidrs:
        policies.append(_policy(ALLOW_EXTRA, namespace, [_cidr_rule(r) for r in extra.cidrs]))
    return policies


def fqdn_policy(namespace: str, rules: list[FQDNRule]) -> dict[str, Any] | None:
    """A CiliumNetworkPolicy allowing the FQDN rules (with the DNS visibility Cilium needs to
    learn the names' addresses), or None when there are none."""
    if not rules:
        return None
    egress: list[dict[str, Any]] = [
        {
            "toEndpoints": [
                {
                    "matchLabels": {
                        "k8s:io.kubernetes.pod.namespace": "kube-system",
                        "k8s-app": "kube-dns",
                    }
                }
            ],
            "toPorts": [
                {
                    "ports": [{"port": "53", "protocol": "ANY"}],
                    "rules": {"dns": [{"matchPattern": "*"}]},
                }
            ],
        }
    ]
    for rule in rules:
        allowed: dict[str, Any] = {"toFQDNs": [{"matchPattern": rule.pattern}]}
        if rule.ports:
            allowed["toPorts"] = [
                {
                    "ports": [
                        {
                            "port": str(p.port),
                            "protocol": p.protocol,
                            **({"endPort": p.end_port} if p.end_port else {}),
                        }
                        for p in rule.ports
                    ]
                }
            ]
        egress.append(allowed)
    return {
        "apiVersion": "cilium.io/v2",
        "kind": "CiliumNetworkPolicy",
        "metadata": {"name": FQDN_POLICY, "namespace": namespace},
        "spec": {"endpointSelector": {}, "egress": egress},
    }


# -- containment ------------------------------------------------------------


def _port_range(port: Port) -> tuple[str, int, int]:
    return port.protocol, port.port, port.end_port or port.port


def ports_within(inner: list[Port], outer: list[Port]) -> bool:
    """Whether every port of ``inner`` is allowed by ``outer`` (an empty list is every port)."""
    if not outer:
        return True
    if not inner:
        return False
    allowed = [_port_range(p) for p in outer]
    return all(
        any(
            protocol == a_protocol and a_low <= low and high <= a_high
            for a_protocol, a_low, a_high in allowed
        )
        for protocol, low, high in map(_port_range, inner)
    )


def _overlaps(a: str, b: str) -> bool:
    first, second = network(a), network(b)
    return first.version == second.version and first.overlaps(second)


def _subnet(inner: str, outer: str) -> bool:
    a, b = network(inner), network(outer)
    return a.version == b.version and a.subnet_of(b)  # type: ignore[arg-type]


def cidr_rule_within(rule: CIDRRule, allowed: CIDRRule) -> bool:
    """Whether ``rule`` reaches nothing ``allowed`` does not: its network lies inside the
    allowed one, it keeps out every excepted block it overlaps, and its ports are allowed."""
    if not _subnet(rule.cidr, allowed.cidr):
        return False
    for blocked in allowed.except_:
        if _overlaps(rule.cidr, blocked) and not any(
            _subnet(blocked, mine) for mine in rule.except_
        ):
            return False
    return ports_within(rule.ports, allowed.ports)


def fqdn_within(rule: FQDNRule, allowed: FQDNRule) -> bool:
    """Whether every host ``rule`` names is named by ``allowed`` too, on allowed ports."""
    inner, outer = rule.pattern, allowed.pattern
    if outer.startswith("*."):
        covered = inner == outer or inner.endswith(outer[1:])
    else:
        covered = inner == outer
    return covered and ports_within(rule.ports, allowed.ports)


def describe_cidr(rule: CIDRRule) -> str:
    """A short text for people: ``10.1.0.0/16 except 10.1.2.0/24 ports TCP/443``."""
    text = rule.cidr
    if rule.except_:
        text += " except " + ", ".join(rule.except_)
    if rule.ports:
        text += " ports " + ", ".join(_describe_port(p) for p in rule.ports)
    return text


def describe_fqdn(rule: FQDNRule) -> str:
    text = rule.pattern
    if rule.ports:
        text += " ports " + ", ".join(_describe_port(p) for p in rule.ports)
    return text


def _describe_port(port: Port) -> str:
    span = f"{port.port}-{port.end_port}" if port.end_port else str(port.port)
    return f"{port.protocol}/{span}"


def egress_outside_profile(extra: EgressRules, profile: ProfileEgress) -> list[str]:
    """The namespace's extra egress rules that the profile's allow-list does not cover."""
    outside = [
        describe_cidr(rule)
        for rule in extra.cidrs
        if not any(cidr_rule_within(rule, allowed) for allowed in profile.cidrs)
    ]
    outside += [
        describe_fqdn(rule)
        for rule in extra.fqdns
        if not any(fqdn_within(rule, allowed) for allowed in profile.fqdns)
    ]
    return outside


def unenforceable_egress(profile: ProfileEgress, extra: EgressRules, fqdns: bool) -> list[str]:
    """Allow-list entries no mechanism of the cluster can enforce: FQDN rules without a
    network plugin that supports them. Their traffic stays denied."""
    if fqdns:
        return []
    return [f"fqdn {describe_fqdn(rule)}" for rule in [*profile.fqdns, *extra.fqdns]]
