"""Bound namespaces, node labels and scheduled pods, kept from the snapshot's informers.

Reading it costs no API call, so the webhooks answer from it on the event loop. Every
change that can move a namespace's placement marks the namespace in :attr:`dirty`, for
the settle loop.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from souverain import labels
from souverain.admission.pinning import Pinning, pinning
from souverain.admission.review import Placement
from souverain.api import SovereigntyProfileSpec
from souverain.reconcile.placement import (
    Compliance,
    PlacementReport,
    assess,
    placement_conditions,
    placement_layers,
)
from souverain.reconcile.qualification import qualifies
from souverain.runtime.informer import Change
from souverain.runtime.snapshot import Snapshot
from souverain.runtime.work import WorkQueue
from souverain.settings import WebhookOptions


@dataclass(frozen=True)
class Profile:
    """A profile as placement reads it, parsed once per resourceVersion."""

    version: str | None
    spec: SovereigntyProfileSpec
    pins: Pinning


class PlacementState:
    """What placement knows; fed by the informers of Namespaces, Nodes, Pods and
    profiles."""

    def __init__(
        self,
        snapshot: Snapshot,
        options: WebhookOptions,
        *,
        mutating_policies: bool,
        active: threading.Event,
    ) -> None:
        self.snapshot = snapshot
        self.options = options
        self.mutating_policies = mutating_policies
        self.active = active
        self.bound: dict[str, str] = {}
        """namespace -> profile, from the Namespace's ``souverain.io/profile`` label."""
        self.nodes: dict[str, dict[str, str]] = {}
        self.pods: dict[str, dict[str, tuple[str, str]]] = {}
        """namespace -> pod -> (uid, node) of scheduled pods that are not finished or leaving."""
        self.fresh: dict[tuple[str, str], str] = {}
        """(namespace, pod) -> uid of pods created while this replica was active, not yet
        announced as pinned."""
        self.dirty = WorkQueue()
        self._cache: dict[str, Profile] = {}

    def subscribe(self) -> None:
        self.snapshot.namespaces.subscribe(self.namespace_seen)
        self.snapshot.nodes.subscribe(self.node_seen)
        self.snapshot.pods.subscribe(self.pod_seen)
        self.snapshot.profiles.subscribe(self.profile_seen)
        self.snapshot.sovereign_namespaces.subscribe(self.sovereign_namespace_seen)

    @property
    def synced(self) -> bool:
        """Whether every informer placement reads has listed once."""
        return all(
            informer.synced.is_set()
            for informer in (
                self.snapshot.namespaces,
                self.snapshot.nodes,
                self.snapshot.pods,
                self.snapshot.profiles,
            )
        )

    # -- lookups ------------------------------------------------------------------

    def profile_of(self, namespace: str, bound: str | None = None) -> Profile | None:
        """The profile of a bound namespace, or None (not bound, profile gone or invalid);
        ``bound`` names the profile its Namespace was just labelled with, before the
        informer sees the label."""
        name = bound or self.bound.get(namespace)
        if name is None:
            return None
        body = self.snapshot.profile(name)
        if body is None:
            return None
        version = body["metadata"].get("resourceVersion")
        cached = self._cache.get(name)
        if cached is not None and cached.version == version:
            return cached
        try:
            spec = SovereigntyProfileSpec.model_validate(body.get("spec") or {})
        except ValidationError:
            return None
        cached = Profile(version, spec, pinning(name, spec))
        self._cache[name] = cached
        return cached

    def node_qualifies(self, profile: Profile) -> Callable[[str], bool]:
        def check(node: str) -> bool:
            found = self.nodes.get(node)
            return found is not None and qualifies(found, profile.spec.node_requirements)

        return check

    def placement_of(self, namespace: str) -> Placement | None:
        """What a webhook review needs about ``namespace``."""
        profile = self.profile_of(namespace)
        return None if profile is None else Placement(profile.pins, self.node_qualifies(profile))

    def layers(self, profile: Profile) -> list[str]:
        return placement_layers(
            native=self.options.native,
            mutating=self.mutating_policies,
            enforced=profile.pins.enforced,
            webhook=self.options.enabled,
        )

    def scheduled(self, namespace: str) -> dict[str, tuple[str, str]]:
        return dict(self.pods.get(namespace, {}))

    def compliance(self, namespace: str, profile: Profile) -> Compliance:
        scheduled = {pod: node for pod, (_, node) in self.scheduled(namespace).items()}
        return assess(scheduled, self.nodes, profile.spec.node_requirements)

    def report(
        self, namespace: str, generation: int | None, bound: str | None = None
    ) -> PlacementReport | None:
        """Placement conditions and counts of a bound namespace (``bound``: see
        :meth:`profile_of`), once everything is listed; None before that or when the
        namespace has no profile."""
        profile = self.profile_of(namespace, bound)
        if profile is None or not self.synced:
            return None
        found = self.compliance(namespace, profile)
        layers = self.layers(profile)
        evicting = profile.pins.enforced and profile.spec.enforcement.evict_non_compliant
        conditions = placement_conditions(
            profile.pins.profile, profile.pins.enforced, evicting, layers, found, generation
        )
        return PlacementReport(
            conditions, len(found.compliant), len(found.non_compliant), layers, found.non_compliant
        )

    # -- changes --------------------------------------------------------------------

    def mark(self, *namespaces: str) -> None:
        self.dirty.add(*namespaces)

    def mark_all(self) -> None:
        self.mark(*list(self.bound))

    def profile_seen(self, change: Change) -> None:
        name = change.obj["metadata"]["name"]
        self._cache.pop(name, None)
        self.mark(*(ns for ns, profile in list(self.bound.items()) if profile == name))

    def sovereign_namespace_seen(self, change: Change) -> None:
        """A SovereignNamespace changed, its status included: the settle loop compares the
        counts it holds with what placement knows, so that a status written from an older
        view (by another pass that read placement a moment before a pod or node changed)
        is written again."""
        name = change.obj["metadata"]["name"]
        if change.type != "DELETED" and name in self.bound:
            self.mark(name)

    def namespace_seen(self, change: Change) -> None:
        name = change.obj["metadata"]["name"]
        profile = (change.obj["metadata"].get("labels") or {}).get(labels.PROFILE)
        before = self.bound.get(name)
        if change.type == "DELETED" or not profile:
            self.bound.pop(name, None)
        else:
            self.bound[name] = profile
        if self.bound.get(name) != before:
            self.mark(name)

    def node_seen(self, change: Change) -> None:
        name = change.obj["metadata"]["name"]
        new = None if change.type == "DELETED" else dict(change.obj["metadata"].get("labels") or {})
        old = self.nodes.get(name)
        if new is None:
            self.nodes.pop(name, None)
        else:
            self.nodes[name] = new
        if old != new:
            self.mark(
                *(
                    ns
                    for ns, pods in list(self.pods.items())
                    if ns in self.bound and any(node == name for _, node in pods.values())
                )
            )

    def pod_seen(self, change: Change) -> None:
        obj: dict[str, Any] = change.obj
        metadata, spec = obj["metadata"], obj.get("spec") or {}
        namespace, name = metadata["namespace"], metadata["name"]
        node = spec.get("nodeName")
        phase = (obj.get("status") or {}).get("phase")
        pods = self.pods.setdefault(namespace, {})
        before = pods.get(name)
        gone = (
            change.type == "DELETED"
            or not node
            or phase in ("Succeeded", "Failed")
            or metadata.get("deletionTimestamp")
        )
        if change.type == "DELETED":
            self.fresh.pop((namespace, name), None)
        elif (
            change.type == "ADDED"
            and self.active.is_set()
            and self.snapshot.pods.synced.is_set()
            and namespace in self.bound
        ):
            self.fresh[(namespace, name)] = str(metadata["uid"])
        if gone:
            pods.pop(name, None)
            if not pods:
                self.pods.pop(namespace, None)
        else:
            pods[name] = (str(metadata["uid"]), str(node))
        if pods.get(name) != before and namespace in self.bound:
            self.mark(namespace)
