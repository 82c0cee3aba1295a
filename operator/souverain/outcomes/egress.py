"""Where a pod's traffic can go, computed from every NetworkPolicy that selects it.

This is the outcome the egress floor is about, evaluated the way a network plugin
enforces NetworkPolicies and written apart from the admission policy's CEL, so that each
checks the other: the property test drives tenant operations against the API server and
asks this module whether any pod got out, and the report uses it on the live cluster,
where it also catches what admission let through (a cluster administrator's policy, say).

A pod is *isolated* for egress when at least one policy of type Egress selects it; its
traffic may then reach the union of those policies' egress rules. A destination is
*inside* the floor of a profile when it is:

- pods of the pod's own namespace, or of namespaces that can only carry the profile's
  label (every namespace a selector can match has ``souverain.io/profile`` equal to the
  profile, or is the pod's own namespace by ``kubernetes.io/metadata.name``);
- the cluster DNS (pods labelled ``k8s-app=kube-dns`` in ``kube-system``) on port 53,
  when the profile allows DNS;
- addresses and ports that the profile's networks cover together, with their
  exclusions and ports.

Selectors are read for what they can match, not for how they are written: a
``matchExpressions`` ``In`` and a ``matchLabels`` entry mean the same, ``NotIn`` and
``DoesNotExist`` narrow, and a selector no namespace can satisfy reaches nothing. Named
ports could be any number, so they count as every port of their protocol.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

PROFILE_LABEL: Final = "souverain.io/profile"
NAME_LABEL: Final = "kubernetes.io/metadata.name"
DNS_NAMESPACE: Final = "kube-system"
DNS_POD_LABELS: Final = {"k8s-app": "kube-dns"}
PROTOCOLS: Final = ("TCP", "UDP", "SCTP")
MAX_PORT: Final = 65535

Selector = Mapping[str, Any]


# -- label selectors -------------------------------------------------------------


def selector_matches(selector: Selector | None, labels: Mapping[str, str]) -> bool:
    """Whether a label selector matches ``labels`` (an empty selector matches all)."""
    selector = selector or {}
    for key, value in (selector.get("matchLabels") or {}).items():
        if labels.get(key) != value:
            return False
    for expression in selector.get("matchExpressions") or []:
        key, operator = expression.get("key"), expression.get("operator")
        values = set(expression.get("values") or [])
        present = key in labels
        if operator == "In" and not (present and labels[key] in values):
            return False
        if operator == "NotIn" and present and labels[key] in values:
            return False
        if operator == "Exists" and not present:
            return False
        if operator == "DoesNotExist" and present:
            return False
        if operator not in ("In", "NotIn", "Exists", "DoesNotExist"):
            return False
    return True


@dataclass
class _KeyValues:
    """The values a selector lets one label key take: a set (``include`` None is every
    value) minus ``exclude``, and whether the label may be absent."""

    include: set[str] | None = None
    exclude: set[str] = field(default_factory=set)
    absent: bool = True

    def only(self, values: Iterable[str]) -> None:
        wanted = set(values)
        self.include = wanted if self.include is None else self.include & wanted
        self.absent = False

    def finite(self) -> set[str] | None:
        return None if self.include is None else self.include - self.exclude

    def satisfiable(self) -> bool:
        finite = self.finite()
        return self.absent or finite is None or bool(finite)


def _key_values(selector: Selector) -> dict[str, _KeyValues]:
    keys: dict[str, _KeyValues] = {}
    for key, value in (selector.get("matchLabels") or {}).items():
        keys.setdefault(key, _KeyValues()).only([value])
    for expression in selector.get("matchExpressions") or []:
        values = keys.setdefault(str(expression.get("key")), _KeyValues())
        operator = expression.get("operator")
        if operator == "In":
            values.only(expression.get("values") or [])
        elif operator == "NotIn":
            values.exclude |= set(expression.get("values") or [])
        elif operator == "Exists":
            values.absent = False
        elif operator == "DoesNotExist":
            values.include = set()
    return keys


def selects_nothing(selector: Selector | None) -> bool:
    """Whether no set of labels can satisfy the selector."""
    return not all(values.satisfiable() for values in _key_values(selector or {}).values())


def selects_only(selector: Selector | None, key: str, value: str) -> bool:
    """Whether every set of labels the selector matches has ``key`` equal to ``value``."""
    if selects_nothing(selector):
        return True
    values = _key_values(selector or {}).get(key)
    if values is None or values.absent:
        return False
    finite = values.finite()
    return finite is not None and finite <= {value}


# -- ports and addresses -----------------------------------------------------------


@dataclass(frozen=True)
class Box:
    """Traffic to the addresses ``first``..``last`` of one IP version on the ports
    ``low``..``high`` of one protocol."""

    version: int
    protocol: str
    low: int
    high: int
    first: int
    last: int

    def minus(self, other: Box) -> list[Box]:
        """This box without ``other``: up to four boxes."""
        if (
            self.version != other.version
            or self.protocol != other.protocol
            or other.high < self.low
            or other.low > self.high
            or other.last < self.first
            or other.first > self.last
        ):
            return [self]
        pieces = []
        if self.low < other.low:
            pieces.append(
                Box(self.version, self.protocol, self.low, other.low - 1, self.first, self.last)
            )
        if other.high < self.high:
            pieces.append(
                Box(self.version, self.protocol, other.high + 1, self.high, self.first, self.last)
            )
        low, high = max(self.low, other.low), min(self.high, other.high)
        if self.first < other.first:
            pieces.append(Box(self.version, self.protocol, low, high, self.first, other.first - 1))
        if other.last < self.last:
            pieces.append(Box(self.version, self.protocol, low, high, other.last + 1, self.last))
        return pieces


PortRange = tuple[str, int, int]


def port_ranges(ports: Sequence[Mapping[str, Any]] | None) -> list[PortRange]:
    """The (protocol, low, high) ranges of a rule's ports; no ports is every port."""
    if not ports:
        return [(protocol, 1, MAX_PORT) for protocol in PROTOCOLS]
    ranges = []
    for port in ports:
        protocol = str(port.get("protocol") or "TCP")
        number = port.get("port")
        if number is None or isinstance(number, str):
            # No number, or a named port that could be any number.
            ranges.append((protocol, 1, MAX_PORT))
        else:
            ranges.append((protocol, int(number), int(port.get("endPort") or number)))
    return ranges


def _span(cidr: str) -> tuple[int, int, int]:
    network = ipaddress.ip_network(cidr, strict=False)
    return network.version, int(network.network_address), int(network.broadcast_address)


def address_boxes(cidr: str, excluded: Iterable[str], ports: list[PortRange]) -> list[Box]:
    """The traffic an ipBlock allows on ``ports``: its network without its exclusions."""
    version, first, last = _span(cidr)
    boxes = [Box(version, protocol, low, high, first, last) for protocol, low, high in ports]
    for block in excluded:
        ex_version, ex_first, ex_last = _span(block)
        if ex_version != version:
            continue
        boxes = [
            piece
            for box in boxes
            for piece in box.minus(Box(version, box.protocol, box.low, box.high, ex_first, ex_last))
        ]
    return boxes


def uncovered(boxes: Iterable[Box], cover: Sequence[Box]) -> list[Box]:
    """The parts of ``boxes`` that no box of ``cover`` contains."""
    left = list(boxes)
    for piece in cover:
        left = [rest for box in left for rest in box.minus(piece)]
        if not left:
            break
    return left


def _address_text(version: int, first: int, last: int) -> str:
    start = ipaddress.ip_address(first) if version == 4 else ipaddress.IPv6Address(first)
    end = ipaddress.ip_address(last) if version == 4 else ipaddress.IPv6Address(last)
    networks = list(ipaddress.summarize_address_range(start, end))
    text = ", ".join(str(n) for n in networks[:3])
    return text + (f" and {len(networks) - 3} more blocks" if len(networks) > 3 else "")


def _ports_text(protocol: str, low: int, high: int) -> str:
    if low == 1 and high == MAX_PORT:
        return f"every {protocol} port"
    return f"{protocol}/{low}" if low == high else f"{protocol}/{low}-{high}"


def _ports_list_text(ports: list[PortRange]) -> str:
    if sorted(ports) == sorted((protocol, 1, MAX_PORT) for protocol in PROTOCOLS):
        return "every port"
    return ", ".join(_ports_text(*port) for port in ports)


# -- the floor and the outcome ----------------------------------------------------


@dataclass(frozen=True)
class Floor:
    """What a profile lets a pod of one of its namespaces reach."""

    profile: str
    namespace: str
    allow_dns: bool
    networks: tuple[Mapping[str, Any], ...]
    """The profile's egress CIDR rules: ``cidr``, ``except``, ``ports``."""

    def cover(self) -> list[Box]:
        return [
            box
            for network in self.networks
            for box in address_boxes(
                str(network["cidr"]), network.get("except") or [], port_ranges(network.get("ports"))
            )
        ]


@dataclass
class EffectiveEgress:
    """Where one pod's traffic can go, and what of it lies past its profile's floor."""

    isolated: bool
    policies: list[str] = field(default_factory=list)
    """The Egress policies that select the pod, by name."""
    destinations: list[str] = field(default_factory=list)
    """What the pod may reach, as a person reads it."""
    escapes: list[str] = field(default_factory=list)
    """What it may reach that the floor does not allow (every destination, when the pod
    is not isolated)."""


def _is_egress(policy: Mapping[str, Any]) -> bool:
    spec = policy.get("spec") or {}
    types = spec.get("policyTypes")
    if not types:
        return bool(spec.get("egress"))
    return "Egress" in types


def selector_text(selector: Selector | None) -> str:
    """A label selector as a person reads it: ``app=web, tier In (a, b)``."""
    selector = selector or {}
    parts = [f"{key}={value}" for key, value in sorted((selector.get("matchLabels") or {}).items())]
    for expression in selector.get("matchExpressions") or []:
        values = expression.get("values") or []
        suffix = f" ({', '.join(values)})" if values else ""
        parts.append(f"{expression.get('key')} {expression.get('operator')}{suffix}")
    return ", ".join(parts)


def _pods_text(selector: Selector | None) -> str:
    text = selector_text(selector)
    return f"pods {text}" if text else "all pods"


def _boxes_text(boxes: list[Box]) -> list[str]:
    """Boxes as text, those that differ only by protocol said once."""
    grouped: dict[tuple[int, int, int, int, int], set[str]] = {}
    for box in boxes:
        grouped.setdefault((box.version, box.first, box.last, box.low, box.high), set()).add(
            box.protocol
        )
    texts = []
    for (version, first, last, low, high), protocols in grouped.items():
        addresses = _address_text(version, first, last)
        ports = [(protocol, low, high) for protocol in sorted(protocols)]
        texts.append(f"{addresses} on {_ports_list_text(ports)}")
    return texts


def _peer_outcome(
    peer: Mapping[str, Any], ports: list[PortRange], floor: Floor, cover: list[Box]
) -> tuple[str, list[str]]:
    """A destination's text and what of it lies past the floor."""
    ports_text = _ports_list_text(ports)
    if "ipBlock" in peer:
        block = peer["ipBlock"]
        text = str(block["cidr"]) + (
            f" except {', '.join(block['except'])}" if block.get("except") else ""
        )
        left = uncovered(address_boxes(str(block["cidr"]), block.get("except") or [], ports), cover)
        return f"{text} on {ports_text}", _boxes_text(left)
    pods = peer.get("podSelector")
    if "namespaceSelector" not in peer:
        return f"{_pods_text(pods)} of namespace {floor.namespace} on {ports_text}", []
    namespaces = peer.get("namespaceSelector") or {}
    scope = selector_text(namespaces)
    where = f"namespaces {scope}" if scope else "every namespace"
    text = f"{_pods_text(pods)} of {where} on {ports_text}"
    if selects_nothing(pods) or selects_only(namespaces, PROFILE_LABEL, floor.profile):
        return text, []
    if selects_only(namespaces, NAME_LABEL, floor.namespace):
        return text, []
    dns_ports_only = all(
        protocol in ("UDP", "TCP") and low == high == 53 for protocol, low, high in ports
    )
    if (
        floor.allow_dns
        and dns_ports_only
        and selects_only(namespaces, NAME_LABEL, DNS_NAMESPACE)
        and all(selects_only(pods, key, value) for key, value in DNS_POD_LABELS.items())
    ):
        return text, []
    return text, [f"{text}: namespaces outside SovereigntyProfile {floor.profile}"]


def effective_egress(
    pod_labels: Mapping[str, str], policies: Iterable[Mapping[str, Any]], floor: Floor
) -> EffectiveEgress:
    """The effective egress of a pod of ``floor.namespace`` with ``pod_labels``, given
    the NetworkPolicies of its namespace (others are ignored)."""
    selecting = [
        policy
        for policy in policies
        if (policy.get("metadata") or {}).get("namespace", floor.namespace) == floor.namespace
        and _is_egress(policy)
        and selector_matches((policy.get("spec") or {}).get("podSelector"), pod_labels)
    ]
    if not selecting:
        return EffectiveEgress(
            isolated=False,
            destinations=["every destination: no Egress NetworkPolicy selects the pod"],
            escapes=["every destination: no Egress NetworkPolicy selects the pod"],
        )
    cover = floor.cover()
    outcome = EffectiveEgress(
        isolated=True, policies=sorted(str(p["metadata"]["name"]) for p in selecting)
    )
    for policy in selecting:
        name = policy["metadata"]["name"]
        for rule in (policy.get("spec") or {}).get("egress") or []:
            ports = port_ranges(rule.get("ports"))
            peers = rule.get("to") or []
            if not peers:
                text = f"every destination on {_ports_list_text(ports)}"
                outcome.destinations.append(f"{text} ({name})")
                outcome.escapes.append(f"{text} ({name})")
                continue
            for peer in peers:
                text, past = _peer_outcome(peer, ports, floor, cover)
                outcome.destinations.append(f"{text} ({name})")
                outcome.escapes.extend(f"{item} ({name})" for item in past)
    return outcome
