"""Egress allow-lists: the destinations a profile allows, and the extra ones a namespace asks for.

The shapes follow NetworkPolicy (``ipBlock`` with ``except``, ports with ``endPort``)
so that the operator translates them one to one; FQDN rules go to CNIs that
understand them (Cilium ``toFQDNs``) and are reported as unenforceable elsewhere.
"""

from __future__ import annotations

import ipaddress
from typing import Annotated, Literal

from pydantic import AfterValidator, ConfigDict, Field

from souverain.api.markers import Rule, atomic_list, map_list, set_list, validated
from souverain.api.names import FQDN
from souverain.api.resource import SpecModel

Protocol = Literal["TCP", "UDP", "SCTP"]

MAX_CIDR_LENGTH = 43
"""The longest IPv6 prefix in text: 39 characters of address, ``/`` and three digits."""

IS_CIDR = Rule("isCIDR(self)", "must be an IPv4 or IPv6 CIDR, such as 192.0.2.0/24")
IS_CANONICAL = Rule(
    "!isCIDR(self) || string(cidr(self).masked()) == self",
    "must be in canonical form, with no bits set after the prefix (192.0.2.0/24, not 192.0.2.1/24)",
)


def network(value: str) -> ipaddress.IPv4Network | ipaddress.IPv6Network:
    """The network a CIDR string names (host bits allowed), as the API server parses it."""
    _, slash, length = value.partition("/")
    if not slash or not length.isdecimal():
        raise ValueError(IS_CIDR.message)
    return ipaddress.ip_network(value, strict=False)


def _network(value: str) -> str:
    network(value)
    return value


def _canonical_network(value: str) -> str:
    if str(network(value)) != value:
        raise ValueError(IS_CANONICAL.message)
    return value


CIDR = Annotated[
    str,
    Field(min_length=1, max_length=MAX_CIDR_LENGTH, json_schema_extra=validated(IS_CIDR)),
    AfterValidator(_network),
]
"""An IPv4 or IPv6 network in CIDR notation."""

CanonicalCIDR = Annotated[
    str,
    Field(
        min_length=1,
        max_length=MAX_CIDR_LENGTH,
        json_schema_extra=validated(IS_CIDR, IS_CANONICAL),
    ),
    AfterValidator(_canonical_network),
]
"""A network in CIDR notation with no bits set after the prefix, so that equal networks
are equal strings."""


class Port(SpecModel):
    """A destination port, or a range of ports when endPort is set."""

    model_config = ConfigDict(
        json_schema_extra=validated(
            Rule(
                "!has(self.endPort) || self.endPort >= self.port",
                "endPort must not be lower than port",
                field_path=".endPort",
            )
        )
    )

    protocol: Protocol = "TCP"
    """Transport protocol: TCP, UDP or SCTP."""
    port: int = Field(ge=1, le=65535)
    """Destination port number."""
    end_port: int | None = Field(default=None, ge=1, le=65535)
    """Last port of the range that starts at port, inclusive."""


Ports = Annotated[list[Port], Field(max_length=16, json_schema_extra=atomic_list())]


class CIDRRule(SpecModel):
    """Traffic allowed to a network, minus the blocks listed in except."""

    model_config = ConfigDict(
        json_schema_extra=validated(
            Rule(
                "!isCIDR(self.cidr) || !has(self.except) || self.except.all(e, !isCIDR(e)"
                " || (cidr(self.cidr).containsCIDR(e)"
                " && cidr(e).prefixLength() > cidr(self.cidr).prefixLength()))",
                "every except block must lie strictly inside cidr",
                field_path=".except",
            )
        )
    )

    cidr: CanonicalCIDR
    """Destination network, such as 192.0.2.0/24 or 2001:db8::/32."""
    except_: list[CIDR] = Field(
        default_factory=list, alias="except", max_length=16, json_schema_extra=set_list()
    )
    """Blocks inside cidr that stay forbidden."""
    ports: Ports = Field(default_factory=list)
    """Ports allowed; empty allows every port."""


class FQDNRule(SpecModel):
    """Traffic allowed to hosts by name, where the network plugin can enforce it."""

    pattern: FQDN
    """Host name, or *.domain for every host under a domain, such as *.gouv.fr."""
    ports: Ports = Field(default_factory=list)
    """Ports allowed; empty allows every port."""


class EgressRules(SpecModel):
    """Destinations pods may reach besides DNS and their own namespace."""

    cidrs: list[CIDRRule] = Field(
        default_factory=list, max_length=64, json_schema_extra=map_list("cidr")
    )
    """Networks allowed, with their ports."""
    fqdns: list[FQDNRule] = Field(
        default_factory=list, max_length=32, json_schema_extra=map_list("pattern")
    )
    """Host names allowed, with their ports; enforced only by network plugins that support
    them (Cilium), and reported in status.unenforceableEgress elsewhere."""


class ProfileEgress(EgressRules):
    """The egress floor of a profile: nothing leaves a bound namespace for anywhere else."""

    allow_dns: bool = Field(default=True, alias="allowDNS")
    """Whether pods may query the cluster DNS (kube-system, port 53 over UDP and TCP)."""
