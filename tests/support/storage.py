"""Nodes with topology labels, a profile with storage rules, StorageClasses and
PersistentVolumes, as the volume plan and the residency checks read them."""

from __future__ import annotations

from typing import Any

from souverain.api import SovereigntyProfileSpec
from tests.support.profiles import SOVEREIGN

PROFILE = "french-sovereign"
"""The name of the profile the volumes are checked against."""


def node(region: str, zone: str, sovereign: bool) -> dict[str, str]:
    """The topology labels of a node, and the sovereign label if it is one."""
    found = {
        "topology.kubernetes.io/region": region,
        "topology.kubernetes.io/zone": zone,
    }
    if sovereign:
        found[SOVEREIGN] = "true"
    return found


NODES = {
    "sov-fr-1": node("fr-paris", "fr-paris-1", True),
    "sov-fr-3": node("fr-paris", "fr-paris-2", True),
    "std-us-1": node("us-east", "us-east-1", False),
    "rogue-fr": node("fr-paris", "fr-paris-1", False),
}
"""The labels of four nodes by name: two sovereign ones in region fr-paris (zones
fr-paris-1 and fr-paris-2), one in us-east, and one in fr-paris that does not qualify."""
for name, node_labels in NODES.items():
    node_labels["kubernetes.io/hostname"] = name


def profile(
    regions: tuple[str, ...] = ("fr-paris",),
    zones: tuple[str, ...] = (),
    classes: tuple[str, ...] = ("local-late", "zonal"),
    default: str | None = "local-late",
    mode: str = "Enforce",
) -> SovereigntyProfileSpec:
    """A French-sovereign profile in ``mode`` whose storage allows ``classes`` (``default``
    when a claim names none) inside ``regions`` and ``zones``."""
    storage: dict[str, Any] = {
        "allowedClasses": list(classes),
        "topology": {"regions": list(regions), "zones": list(zones)},
    }
    if default:
        storage["defaultClass"] = default
    return SovereigntyProfileSpec.model_validate(
        {
            "nodeRequirements": [{"key": SOVEREIGN, "operator": "In", "values": ["true"]}],
            "storage": storage,
            "enforcement": {"mode": mode},
        }
    )


def storage_class(mode: str = "WaitForFirstConsumer", **extra: Any) -> dict[str, Any]:
    """StorageClass ``local-late``, binding in ``mode``."""
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "local-late"},
        "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": mode,
        **extra,
    }


def pv(
    name: str,
    terms: list[dict[str, Any]] | None = None,
    pv_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    """A 2Gi PersistentVolume whose node affinity requires ``terms``."""
    spec: dict[str, Any] = {"capacity": {"storage": "2Gi"}}
    if terms is not None:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": terms}}
    return {"metadata": {"name": name, "labels": pv_labels or {}}, "spec": spec}


def on_host(*hosts: str) -> dict[str, Any]:
    """A node selector term for these host names."""
    return {
        "matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": list(hosts)}
        ]
    }


def in_zone(*zones: str) -> dict[str, Any]:
    """A node selector term for these zones."""
    return {
        "matchExpressions": [
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(zones)}
        ]
    }


def in_region(*regions: str) -> dict[str, Any]:
    """A node selector term for these regions."""
    return {
        "matchExpressions": [
            {"key": "topology.kubernetes.io/region", "operator": "In", "values": list(regions)}
        ]
    }
