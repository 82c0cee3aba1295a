"""Odd input: SovereigntyProfiles, SovereignNamespaces and ResidentVolumes that pass, or
just miss, the CRD schema, and the one answer souverain gives to each.

Every row ends in one of three answers:

- ``refused``: the API server refuses the object at apply time (422) and its message
  holds ``detail``, which names the field;
- ``ready``: the operator converges and every item of every list reaches the objects it
  makes (a profile's bindings and a bound namespace's NetworkPolicy, a namespace's
  labels, annotations, RoleBinding and NetworkPolicies, a volume's claim);
- ``reported``: the operator says why in a condition whose reason is ``detail`` (and in
  an Event), and changes nothing it should not.

Not run here, because it breaks the operator's bookkeeping rather than its own answer:
a SovereignNamespace whose 32 annotations hold 4096 non-ASCII characters each. kopf
keeps a JSON copy of the spec in an annotation of the object, escaping each such
character to six bytes, and the object's annotations then pass the API server's 256 KiB;
the same spec in ASCII (the ``namespace-largest`` row) fits.

Namespace and volume rows bind to :data:`BASE_PROFILE` unless they bring their own
``profile``; volume rows live in a namespace bound to it and use :data:`RESIDENT_CLASS`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

SOVEREIGN = "node-restriction.kubernetes.io/french-sovereign"
RESIDENT_CLASS = "souverain-odd-resident"
"""A late-binding class the base profile allows (and gives by default)."""

Kind = Literal["SovereigntyProfile", "SovereignNamespace", "ResidentVolume"]
Answer = Literal["refused", "ready", "reported"]

PREFIX = ".".join(["a" * 63, "b" * 63, "c" * 63, "d" * 61])
"""The longest key prefix Kubernetes allows: a DNS subdomain of 253 characters."""
assert len(PREFIX) == 253
LONG_NAME = "n" * 63
"""The longest name part of a key, and the longest label value."""


def long_key(index: int) -> str:
    """A label key of the largest size: a 253-character prefix, '/', 63 characters."""
    return f"{PREFIX}/{index:02d}{LONG_NAME[2:]}"


def _cidr_rules(base: int, count: int, excepts: int, ports: int) -> list[dict[str, Any]]:
    """``count`` rules on 10.<base+i>.0.0/16, each with ``excepts`` /24 blocks kept out and
    ``ports`` TCP ports, the last one a range up to 65535."""
    rules = []
    for i in range(count):
        rule_ports: list[dict[str, Any]] = [{"port": 1000 + j} for j in range(ports - 1)]
        rule_ports.append({"protocol": "UDP", "port": 60000, "endPort": 65535})
        rules.append(
            {
                "cidr": f"10.{base + i}.0.0/16",
                "except": [f"10.{base + i}.{j}.0/24" for j in range(excepts)],
                "ports": rule_ports[:ports],
            }
        )
    return rules


BASE_PROFILE: Mapping[str, Any] = {
    "nodeRequirements": [{"key": SOVEREIGN, "operator": "In", "values": ["true"]}],
    "egress": {
        "cidrs": [{"cidr": "0.0.0.0/0"}, {"cidr": "::/0"}],
        "fqdns": [{"pattern": "*.fr"}],
    },
    "storage": {"allowedClasses": [RESIDENT_CLASS], "defaultClass": RESIDENT_CLASS},
}
"""Allows every IPv4 and IPv6 network and every host under .fr, on every port."""

IPV4_ONLY_PROFILE: Mapping[str, Any] = {
    **BASE_PROFILE,
    "egress": {"cidrs": [{"cidr": "0.0.0.0/0", "ports": [{"port": 443}]}]},
}


@dataclass(frozen=True)
class OddInput:
    """One odd object and the answer souverain gives to it."""

    id: str
    kind: Kind
    spec: Mapping[str, Any]
    answer: Answer
    detail: str = ""
    """refused: a fragment of the API server's message; reported: the condition reason."""
    why: str = ""
    name_length: int | None = None
    """The object's name is padded to exactly this many characters."""
    profile: Mapping[str, Any] | None = None
    """The profile a namespace or volume row binds to, instead of :data:`BASE_PROFILE`."""


def _profile(**spec: Any) -> dict[str, Any]:
    return {"nodeRequirements": BASE_PROFILE["nodeRequirements"], **spec}


def _volume(**spec: Any) -> dict[str, Any]:
    return {"size": "1Gi", "accessModes": ["ReadWriteOnce"], **spec}


LARGEST_PROFILE: Mapping[str, Any] = {
    "nodeRequirements": [
        {"key": SOVEREIGN, "operator": "In", "values": ["true", *(f"v{i}" for i in range(31))]},
        *({"key": long_key(i), "operator": "DoesNotExist"} for i in range(15)),
    ],
    "tolerations": [
        {"key": long_key(i), "value": LONG_NAME, "effect": "NoSchedule"} for i in range(16)
    ],
    "egress": {
        "cidrs": _cidr_rules(0, 64, 16, 16),
        "fqdns": [
            {"pattern": f"*.s{i}.gouv.fr", "ports": [{"port": 1 + j} for j in range(16)]}
            for i in range(32)
        ],
    },
    "storage": {
        "allowedClasses": [RESIDENT_CLASS, *(f"class-{i}.{PREFIX[:200]}" for i in range(31))],
        "defaultClass": RESIDENT_CLASS,
        "topology": {
            "regions": [f"r{i:02d}{LONG_NAME[3:]}" for i in range(32)],
            "zones": [f"z{i:02d}{LONG_NAME[3:]}" for i in range(64)],
        },
        "allowedVolumeSources": {
            "nfsServers": [f"nfs{i}.{PREFIX[:240]}" for i in range(32)],
            "csiDrivers": [f"csi{i}.{PREFIX[:240]}" for i in range(32)],
            "types": ["cephfs", "nfs", "csi", "rbd", "iscsi", "fc", "glusterfs", "hostPath"],
        },
    },
}
"""Every list of a profile at its maxItems, with the longest keys and values."""

ROWS: tuple[OddInput, ...] = (
    # -- SovereigntyProfile ---------------------------------------------------------
    OddInput(
        "profile-empty-lists",
        "SovereigntyProfile",
        _profile(
            tolerations=[],
            egress={"cidrs": [], "fqdns": []},
            storage={
                "allowedClasses": [],
                "topology": {"regions": [], "zones": []},
                "allowedVolumeSources": {"nfsServers": [], "csiDrivers": [], "types": []},
            },
        ),
        "ready",
        why="empty lists deny everything they list; the profile still binds",
    ),
    OddInput(
        "profile-largest",
        "SovereigntyProfile",
        LARGEST_PROFILE,
        "ready",
        why="every list at its maxItems, longest keys and values",
    ),
    OddInput(
        "profile-longest-name",
        "SovereigntyProfile",
        _profile(),
        "ready",
        name_length=63,
        why="the name is a label value on bound namespaces: 63 fits",
    ),
    OddInput(
        "profile-name-too-long",
        "SovereigntyProfile",
        _profile(),
        "refused",
        "metadata.name",
        name_length=64,
    ),
    OddInput(
        "profile-no-node-requirements",
        "SovereigntyProfile",
        {"nodeRequirements": []},
        "refused",
        "spec.nodeRequirements",
    ),
    OddInput(
        "profile-in-without-values",
        "SovereigntyProfile",
        {"nodeRequirements": [{"key": SOVEREIGN, "operator": "In", "values": []}]},
        "refused",
        "spec.nodeRequirements[0].values",
    ),
    OddInput(
        "profile-exists-with-values",
        "SovereigntyProfile",
        {"nodeRequirements": [{"key": SOVEREIGN, "operator": "Exists", "values": ["x"]}]},
        "refused",
        "spec.nodeRequirements[0].values",
    ),
    OddInput(
        "profile-duplicate-requirement-values",
        "SovereigntyProfile",
        {"nodeRequirements": [{"key": SOVEREIGN, "operator": "In", "values": ["true", "true"]}]},
        "ready",
        why="a repeated value changes nothing a node selector means",
    ),
    OddInput(
        "profile-unicode-requirement-value",
        "SovereigntyProfile",
        {"nodeRequirements": [{"key": SOVEREIGN, "operator": "In", "values": ["français"]}]},
        "refused",
        "spec.nodeRequirements[0].values[0]",
    ),
    OddInput(
        "profile-key-prefix-too-long",
        "SovereigntyProfile",
        {"nodeRequirements": [{"key": "a" * 254 + "/x", "operator": "Exists"}]},
        "refused",
        "spec.nodeRequirements[0].key",
    ),
    OddInput(
        "profile-duplicate-allowed-classes",
        "SovereigntyProfile",
        _profile(storage={"allowedClasses": ["fast", "fast"]}),
        "refused",
        "spec.storage.allowedClasses[1]",
    ),
    OddInput(
        "profile-duplicate-cidrs",
        "SovereigntyProfile",
        _profile(egress={"cidrs": [{"cidr": "10.0.0.0/8"}, {"cidr": "10.0.0.0/8"}]}),
        "refused",
        "spec.egress.cidrs[1]",
    ),
    OddInput(
        "profile-cidr-edges",
        "SovereigntyProfile",
        _profile(
            egress={
                "cidrs": [
                    {"cidr": "0.0.0.0/0", "except": ["10.0.0.0/8", "192.0.2.7/32"]},
                    {"cidr": "192.0.2.1/32", "ports": [{"port": 1}, {"port": 65535}]},
                    {"cidr": "::/0", "except": ["fd00::/8"]},
                    {"cidr": "2001:db8::1/128", "ports": [{"port": 1, "endPort": 65535}]},
                    {"cidr": "198.51.100.0/24", "ports": [{"protocol": "SCTP", "port": 9}]},
                ]
            }
        ),
        "ready",
        why="/0, /32, IPv6 /0 and /128, ports 1 and 65535, a range over every port",
    ),
    OddInput(
        "profile-cidr-not-canonical",
        "SovereigntyProfile",
        _profile(egress={"cidrs": [{"cidr": "10.0.0.1/8"}]}),
        "refused",
        "spec.egress.cidrs[0].cidr",
    ),
    OddInput(
        "profile-ipv6-upper-case",
        "SovereigntyProfile",
        _profile(egress={"cidrs": [{"cidr": "2001:DB8::/32"}]}),
        "refused",
        "spec.egress.cidrs[0].cidr",
    ),
    OddInput(
        "profile-ipv4-mapped-ipv6",
        "SovereigntyProfile",
        _profile(egress={"cidrs": [{"cidr": "::ffff:10.0.0.0/104"}]}),
        "refused",
        "spec.egress.cidrs[0].cidr",
        why="an IPv4 network written as IPv6; NetworkPolicies do not take it",
    ),
    OddInput(
        "profile-except-is-the-network",
        "SovereigntyProfile",
        _profile(egress={"cidrs": [{"cidr": "10.0.0.0/8", "except": ["10.0.0.0/8"]}]}),
        "refused",
        "spec.egress.cidrs[0].except",
    ),
    OddInput(
        "profile-except-other-family",
        "SovereigntyProfile",
        _profile(egress={"cidrs": [{"cidr": "0.0.0.0/0", "except": ["::/1"]}]}),
        "refused",
        "spec.egress.cidrs[0].except",
    ),
    OddInput(
        "profile-port-zero",
        "SovereigntyProfile",
        _profile(egress={"cidrs": [{"cidr": "10.0.0.0/8", "ports": [{"port": 0}]}]}),
        "refused",
        "spec.egress.cidrs[0].ports[0].port",
    ),
    OddInput(
        "profile-port-65536",
        "SovereigntyProfile",
        _profile(egress={"cidrs": [{"cidr": "10.0.0.0/8", "ports": [{"port": 65536}]}]}),
        "refused",
        "spec.egress.cidrs[0].ports[0].port",
    ),
    OddInput(
        "profile-end-port-below-port",
        "SovereigntyProfile",
        _profile(egress={"cidrs": [{"cidr": "10.0.0.0/8", "ports": [{"port": 9, "endPort": 8}]}]}),
        "refused",
        "spec.egress.cidrs[0].ports[0].endPort",
    ),
    OddInput(
        "profile-unicode-fqdn",
        "SovereigntyProfile",
        _profile(egress={"fqdns": [{"pattern": "école.fr"}]}),
        "refused",
        "spec.egress.fqdns[0].pattern",
        why="host names go in their punycode form (xn--cole-bpa.fr)",
    ),
    # -- SovereignNamespace ---------------------------------------------------------
    OddInput(
        "namespace-empty-lists",
        "SovereignNamespace",
        {"owners": [], "egress": {"cidrs": [], "fqdns": []}, "labels": {}, "annotations": {}},
        "ready",
        why="no owners makes no RoleBinding; no extra egress makes no extra policy",
    ),
    OddInput(
        "namespace-largest",
        "SovereignNamespace",
        {
            "owners": [
                *({"kind": "User", "name": f"u{i:02d}-" + "é" * 249} for i in range(12)),
                *({"kind": "Group", "name": f"g{i:02d}:" + "x" * 249} for i in range(10)),
                *(
                    {
                        "kind": "ServiceAccount",
                        "name": f"sa{i}.{PREFIX[:240]}",
                        "namespace": "n" * 63,
                    }
                    for i in range(10)
                ),
            ],
            "labels": {long_key(i): LONG_NAME for i in range(64)},
            "annotations": {long_key(i): "x" * 4096 for i in range(32)},
            "egress": {"cidrs": _cidr_rules(100, 64, 16, 16), "fqdns": []},
        },
        "ready",
        name_length=63,
        why="the longest name, every list and map at its maximum, the longest keys",
    ),
    OddInput(
        "namespace-name-too-long",
        "SovereignNamespace",
        {},
        "refused",
        "metadata.name",
        name_length=64,
    ),
    OddInput(
        "namespace-unicode-annotation",
        "SovereignNamespace",
        {"annotations": {"example.com/note": "données résidentes, 数据", "x": ""}},
        "ready",
        why="annotation values are free text",
    ),
    OddInput(
        "namespace-emoji-annotation-and-owner",
        "SovereignNamespace",
        {
            "annotations": {"example.com/flag": "🇫🇷"},
            "owners": [{"kind": "Group", "name": "équipe-🇫🇷"}],
        },
        "ready",
        why="characters outside the Basic Multilingual Plane, which server-side apply must"
        " send as UTF-8: the API server's YAML decoder of apply patches refuses JSON's"
        " surrogate escapes (\\ud83c)",
    ),
    OddInput(
        "namespace-odd-valid-keys",
        "SovereignNamespace",
        {"labels": {"a": "", "1": "1", "A_b.C-d": "x.Y_z", "x.y-z/Q_.r": "v", "k8s.io/z": "a"}},
        "ready",
        why="one-character keys, upper case and '_' or '.' in names, empty values",
    ),
    OddInput(
        "namespace-unicode-label-value",
        "SovereignNamespace",
        {"labels": {"team": "équipe"}},
        "refused",
        "spec.labels.team",
    ),
    OddInput(
        "namespace-unicode-label-key",
        "SovereignNamespace",
        {"labels": {"équipe": "a"}},
        "refused",
        "spec.labels",
    ),
    OddInput(
        "namespace-empty-key-prefix",
        "SovereignNamespace",
        {"labels": {"/team": "a"}},
        "refused",
        "spec.labels",
    ),
    OddInput(
        "namespace-upper-case-key-prefix",
        "SovereignNamespace",
        {"labels": {"Example.com/team": "a"}},
        "refused",
        "spec.labels",
    ),
    OddInput(
        "namespace-reserved-key",
        "SovereignNamespace",
        {"annotations": {"sub.souverain.io/x": "a"}},
        "refused",
        "spec.annotations",
    ),
    OddInput(
        "namespace-name-label",
        "SovereignNamespace",
        {"labels": {"kubernetes.io/metadata.name": "elsewhere"}},
        "refused",
        "spec.labels",
        why="the API server sets this label to the namespace's name and ignores any other",
    ),
    OddInput(
        "namespace-too-many-annotations",
        "SovereignNamespace",
        {"annotations": {f"k{i}": "v" for i in range(33)}},
        "refused",
        "spec.annotations",
    ),
    OddInput(
        "namespace-annotation-too-long",
        "SovereignNamespace",
        {"annotations": {"note": "x" * 4097}},
        "refused",
        "spec.annotations.note",
    ),
    OddInput(
        "namespace-duplicate-owners",
        "SovereignNamespace",
        {"owners": [{"kind": "User", "name": "alice"}, {"kind": "User", "name": "alice"}]},
        "ready",
        why="a repeated subject grants nothing more",
    ),
    OddInput(
        "namespace-service-account-bad-name",
        "SovereignNamespace",
        {"owners": [{"kind": "ServiceAccount", "name": "Deployer", "namespace": "ci"}]},
        "refused",
        "spec.owners[0].name",
    ),
    OddInput(
        "namespace-duplicate-cidrs",
        "SovereignNamespace",
        {"egress": {"cidrs": [{"cidr": "10.0.0.0/8"}, {"cidr": "10.0.0.0/8"}]}},
        "refused",
        "spec.egress.cidrs[1]",
    ),
    OddInput(
        "namespace-cidr-edges",
        "SovereignNamespace",
        {
            "egress": {
                "cidrs": [
                    {"cidr": "192.0.2.1/32", "ports": [{"port": 65535}]},
                    {"cidr": "2001:db8::1/128", "ports": [{"port": 1, "endPort": 65535}]},
                    {"cidr": "0.0.0.0/0", "except": ["0.0.0.0/1"]},
                ]
            }
        },
        "ready",
        why="host networks of both families and a /0, inside a profile allowing /0",
    ),
    OddInput(
        "namespace-ipv6-outside-ipv4-profile",
        "SovereignNamespace",
        {"egress": {"cidrs": [{"cidr": "::/0"}, {"cidr": "10.0.0.0/8", "ports": [{"port": 443}]}]}},
        "reported",
        "EgressOutsideProfile",
        profile=IPV4_ONLY_PROFILE,
        why="::/0 is outside an IPv4 allow-list; 10.0.0.0/8 on 443 is applied",
    ),
    OddInput(
        "namespace-missing-profile",
        "SovereignNamespace",
        {"profileName": "odd-no-such-profile"},
        "reported",
        "ProfileNotFound",
    ),
    # -- ResidentVolume -------------------------------------------------------------
    OddInput(
        "volume-longest-name",
        "ResidentVolume",
        _volume(),
        "ready",
        name_length=63,
        why="the name is the claim's name and a label value on it: 63 fits",
    ),
    OddInput(
        "volume-name-too-long",
        "ResidentVolume",
        _volume(),
        "refused",
        "metadata.name",
        name_length=64,
        why="the claim's label value could not hold it",
    ),
    OddInput(
        "volume-odd-size",
        "ResidentVolume",
        _volume(size="1e3", accessModes=["ReadWriteOncePod"]),
        "ready",
        why="a size with an exponent",
    ),
    OddInput(
        "volume-fraction-of-a-byte",
        "ResidentVolume",
        _volume(size="500m"),
        "ready",
        why="half a byte is more than zero; the claim asks for it as written",
    ),
    OddInput(
        "volume-duplicate-access-modes",
        "ResidentVolume",
        _volume(accessModes=["ReadWriteOnce", "ReadWriteOnce"]),
        "refused",
        "spec.accessModes[1]",
    ),
    OddInput(
        "volume-class-not-allowed",
        "ResidentVolume",
        _volume(storageClassName=f"x.{PREFIX[:240]}"),
        "reported",
        "StorageClassNotAllowed",
        why="the longest class name, not one the profile allows: no claim is made",
    ),
    OddInput(
        "volume-no-class-allowed",
        "ResidentVolume",
        _volume(),
        "reported",
        "NoStorageClass",
        profile=_profile(storage={"allowedClasses": []}),
    ),
)
"""Every odd input souverain is tested against, in the order the tests run them."""
