"""What the operator knows of the cluster: one informer per kind it reads, each watched
once, trimmed to the fields its readers use.

Every consumer reads from here: the placement webhooks and their state, the repair of
managed objects, the profiles' node counts and the handlers' lookups of profiles and
SovereignNamespaces.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass, fields
from typing import Any

from souverain import labels
from souverain.kinds import KINDS
from souverain.kubeapi import KubeApi
from souverain.runtime.informer import Informer

KEPT_METADATA = (
    "name",
    "namespace",
    "uid",
    "generation",
    "resourceVersion",
    "deletionTimestamp",
    "labels",
    "ownerReferences",
)


def _metadata(obj: dict[str, Any]) -> dict[str, Any]:
    metadata = obj.get("metadata") or {}
    return {key: metadata[key] for key in KEPT_METADATA if key in metadata}


def whole(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without its annotations and managedFields, which can be larger than the
    rest of it together."""
    return {**obj, "metadata": _metadata(obj)}


def metadata_only(obj: dict[str, Any]) -> dict[str, Any]:
    """The object's kind and metadata (without annotations and managedFields)."""
    return {
        "apiVersion": obj.get("apiVersion"),
        "kind": obj.get("kind"),
        "metadata": _metadata(obj),
    }


def pod_placement(obj: dict[str, Any]) -> dict[str, Any]:
    """Where a pod runs and whether it still does."""
    return {
        "kind": obj.get("kind"),
        "metadata": _metadata(obj),
        "spec": {"nodeName": (obj.get("spec") or {}).get("nodeName")},
        "status": {"phase": (obj.get("status") or {}).get("phase")},
    }


def volume_claim(obj: dict[str, Any]) -> dict[str, Any]:
    """Which claim a PersistentVolume is bound to."""
    return {
        "kind": obj.get("kind"),
        "metadata": _metadata(obj),
        "spec": {"claimRef": (obj.get("spec") or {}).get("claimRef")},
    }


MANAGED = f"{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}"


@dataclass
class Snapshot:
    """The informers, by what they hold."""

    profiles: Informer
    sovereign_namespaces: Informer
    resident_volumes: Informer
    namespaces: Informer
    nodes: Informer
    pods: Informer
    network_policies: Informer
    """NetworkPolicies the operator manages."""
    role_bindings: Informer
    """RoleBindings the operator manages."""
    resident_claims: Informer
    """PersistentVolumeClaims made for ResidentVolumes."""
    volumes: Informer
    mutating_webhooks: Informer
    """The MutatingWebhookConfiguration the operator manages."""
    validating_webhooks: Informer
    """The ValidatingWebhookConfiguration the operator manages."""
    policy_bindings: Informer
    """The ValidatingAdmissionPolicyBindings the operator keeps for its profiles."""

    @classmethod
    def of(cls, api: KubeApi, watch_seconds: int = 300, lists: Any = None) -> Snapshot:
        """Informers of ``api``; ``lists`` (a Counter by kind) counts their lists."""

        def informer(kind: str, keep: Any, selector: str | None = None) -> Informer:
            return Informer(
                api,
                kind,
                api_version=KINDS[kind].group_version,
                selector=selector,
                keep=keep,
                watch_seconds=watch_seconds,
                listed=None if lists is None else lists.labels(kind=kind).inc,
            )

        return cls(
            profiles=informer("SovereigntyProfile", whole),
            sovereign_namespaces=informer("SovereignNamespace", whole),
            resident_volumes=informer("ResidentVolume", whole),
            namespaces=informer("Namespace", metadata_only),
            nodes=informer("Node", metadata_only),
            pods=informer("Pod", pod_placement),
            network_policies=informer("NetworkPolicy", whole, MANAGED),
            role_bindings=informer("RoleBinding", whole, MANAGED),
            resident_claims=informer(
                "PersistentVolumeClaim", metadata_only, labels.RESIDENT_VOLUME
            ),
            volumes=informer("PersistentVolume", volume_claim),
            mutating_webhooks=informer("MutatingWebhookConfiguration", whole, MANAGED),
            validating_webhooks=informer("ValidatingWebhookConfiguration", whole, MANAGED),
            policy_bindings=informer("ValidatingAdmissionPolicyBinding", whole, MANAGED),
        )

    def __iter__(self) -> Iterator[Informer]:
        return iter(getattr(self, field.name) for field in fields(self))

    def start(self, stop: threading.Event) -> None:
        for informer in self:
            informer.start(stop)

    def synced(self) -> bool:
        return all(informer.synced.is_set() for informer in self)

    def wait_synced(self, stop: threading.Event, poll: float = 0.1) -> bool:
        """Waits until every informer has listed once (True) or ``stop`` is set."""
        while not stop.is_set():
            if self.synced():
                return True
            stop.wait(poll)
        return False

    # -- lookups the handlers share -----------------------------------------------

    def live(self, informer: Informer, name: str, namespace: str | None = None) -> Any:
        """The object unless it is gone or being deleted."""
        found = informer.get(name, namespace)
        if found is None or found["metadata"].get("deletionTimestamp"):
            return None
        return found

    def profile(self, name: str) -> dict[str, Any] | None:
        """The profile, also while it is being deleted: a profile that namespaces still
        use holds until they are gone, and keeps pinning and restricting them."""
        found: dict[str, Any] | None = self.profiles.get(name)
        return found

    def sovereign_namespace(self, name: str) -> dict[str, Any] | None:
        found: dict[str, Any] | None = self.live(self.sovereign_namespaces, name)
        return found

    def bound_to(self, profile: str) -> list[str]:
        """Names of the SovereignNamespaces bound to ``profile``, sorted."""
        return sorted(
            sns["metadata"]["name"]
            for sns in self.sovereign_namespaces.items()
            if (sns.get("spec") or {}).get("profileName") == profile
        )

    def node_labels(self) -> dict[str, dict[str, str]]:
        """Node name -> its labels."""
        return {
            node["metadata"]["name"]: dict(node["metadata"].get("labels") or {})
            for node in self.nodes.items()
        }
