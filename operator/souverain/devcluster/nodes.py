"""The fake nodes of the local control plane, from the declarative ``nodes.yaml``."""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from typing import Any

import yaml

SOVEREIGN_LABEL = "node-restriction.kubernetes.io/french-sovereign"
KWOK_ANNOTATION = "kwok.x-k8s.io/node"


@dataclass(frozen=True)
class NodeSpec:
    """One fake node: where it stands and whether it qualifies as French-sovereign."""

    name: str
    region: str
    zone: str
    sovereign: bool
    capacity: dict[str, str] = field(default_factory=dict)

    def manifest(self) -> dict[str, Any]:
        """The Node object, labelled as a real cloud node would be."""
        labels = {
            "kubernetes.io/hostname": self.name,
            "kubernetes.io/os": "linux",
            "kubernetes.io/arch": "amd64",
            "node.kubernetes.io/instance-type": "kwok.standard-8",
            "topology.kubernetes.io/region": self.region,
            "topology.kubernetes.io/zone": self.zone,
            "type": "kwok",
        }
        if self.sovereign:
            labels[SOVEREIGN_LABEL] = "true"
        return {
            "apiVersion": "v1",
            "kind": "Node",
            "metadata": {
                "name": self.name,
                "labels": labels,
                "annotations": {KWOK_ANNOTATION: "fake", "node.alpha.kubernetes.io/ttl": "0"},
            },
            "spec": {},
            "status": {
                "capacity": dict(self.capacity),
                "allocatable": dict(self.capacity),
            },
        }


def default_nodes() -> list[NodeSpec]:
    """The nodes declared in the packaged ``nodes.yaml``."""
    text = resources.files(__package__).joinpath("nodes.yaml").read_text()
    document = yaml.safe_load(text)
    capacity = {str(k): str(v) for k, v in document["capacity"].items()}
    return [
        NodeSpec(
            name=str(node["name"]),
            region=str(node["region"]),
            zone=str(node["zone"]),
            sovereign=bool(node["sovereign"]),
            capacity=capacity,
        )
        for node in document["nodes"]
    ]
