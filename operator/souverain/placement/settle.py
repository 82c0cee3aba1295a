"""The settle loop: for every namespace placement marked, the metrics, the Events about
pods (pinned, on a node that does not qualify, evicted) and, under Enforce with eviction
on, the evictions; then the SovereignNamespace's status when its counts changed.

It runs only on the active replica (see :func:`souverain.runtime.work.work_on`).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

from kubernetes.client.exceptions import ApiException

from souverain.api import conditions as c
from souverain.kubeapi import KubeApi
from souverain.metrics import Metrics
from souverain.placement.state import PlacementState
from souverain.runtime.events import EventPoster
from souverain.runtime.work import work_on

log = logging.getLogger(__name__)

EVICTION_RETRY_SECONDS = 5.0
SWEEP_SECONDS = 2.0


def pod_ref(namespace: str, name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
    }


class Settler:
    """Settles marked namespaces, one at a time."""

    def __init__(
        self,
        state: PlacementState,
        api: KubeApi,
        events: EventPoster,
        on_change: Callable[[str], None],
        metrics: Metrics,
    ) -> None:
        self.state = state
        self.metrics = metrics
        self.api = api
        self.events = events
        self.on_change = on_change
        self._reported: dict[str, set[tuple[str, str]]] = {}
        self._last: dict[str, tuple[int, tuple[tuple[str, str], ...]]] = {}
        self._retry: dict[tuple[str, str], float] = {}
        self._blocked: set[tuple[str, str]] = set()

    def activate(self) -> None:
        """This replica became the active one: every bound namespace is settled again, and
        what an earlier term reported is forgotten."""
        self._reported.clear()
        self._last.clear()
        self.state.fresh.clear()
        self.state.mark_all()

    def due(self) -> set[str]:
        now = time.monotonic()
        return {namespace for (namespace, _), when in self._retry.items() if when <= now}

    def run(
        self,
        stop: threading.Event,
        active: threading.Event,
        acting: Callable[[], AbstractContextManager[None]],
    ) -> None:
        work_on(
            self.state.dirty,
            self.settle,
            stop,
            active,
            acting,
            period=SWEEP_SECONDS,
            due=self.due,
        )

    def settle(self, namespace: str) -> None:
        if not self.state.synced:
            return  # activation settles every namespace once everything is listed
        profile = self.state.profile_of(namespace)
        if profile is None:
            self.metrics.record_non_compliant(namespace, None, 0)
            self._reported.pop(namespace, None)
            self._last.pop(namespace, None)
            return
        found = self.state.compliance(namespace, profile)
        self.metrics.record_non_compliant(
            namespace, profile.pins.profile, len(found.non_compliant), len(found.compliant)
        )
        # The status first: it is what shows drift, and the Events and evictions of many
        # namespaces would otherwise delay it for the namespaces settled after them.
        summary = (len(found.compliant), found.non_compliant)
        if self._last.get(namespace) != summary or self._written_differs(namespace, summary):
            self.on_change(namespace)
            self._last[namespace] = summary  # once written: a failed write is tried again
        pods = self.state.scheduled(namespace)
        for pod in found.compliant:
            uid = self.state.fresh.get((namespace, pod))
            if uid is not None and pod in pods and pods[pod][0] == uid:
                self.state.fresh.pop((namespace, pod), None)
                self.events.post(
                    pod_ref(namespace, pod, uid),
                    c.POD_PINNED,
                    f"Pinned to nodes that meet {profile.pins.requirement_text}"
                    f" (SovereigntyProfile {profile.pins.profile}); runs on node {pods[pod][1]}.",
                )
        reported = self._reported.get(namespace, set())
        current = set(found.non_compliant)
        for pod, node in sorted(current - reported):
            uid = pods[pod][0] if pod in pods else ""
            self.events.post(
                pod_ref(namespace, pod, uid),
                c.POD_ON_UNQUALIFIED_NODE,
                f"Node {node} does not meet {profile.pins.requirement_text}, which"
                f" SovereigntyProfile {profile.pins.profile} requires.",
                warning=True,
            )
        self._reported[namespace] = current
        if profile.pins.enforced and profile.spec.enforcement.evict_non_compliant:
            for pod, node in found.non_compliant:
                if pod in pods:
                    self._evict(namespace, pod, pods[pod][0], node)
        for key in [k for k in self._retry if k[0] == namespace and k[1] not in pods]:
            self._retry.pop(key, None)
            self._blocked.discard(key)

    def _written_differs(
        self, namespace: str, summary: tuple[int, tuple[tuple[str, str], ...]]
    ) -> bool:
        """Whether the SovereignNamespace's status, as last seen, holds other counts than
        placement's: another pass wrote it from an older view. One not reconciled yet has
        no counts, and its first reconciliation writes them."""
        sns = self.state.snapshot.sovereign_namespace(namespace)
        status = (sns or {}).get("status") or {}
        if "compliantPods" not in status:
            return False
        return (status.get("compliantPods"), status.get("nonCompliantPods")) != (
            summary[0],
            len(summary[1]),
        )

    def _evict(self, namespace: str, pod: str, uid: str, node: str) -> None:
        key = (namespace, pod)
        if self._retry.get(key, 0.0) > time.monotonic():
            return
        # Evicted or not, the pod is not asked about again for a while: an evicted pod
        # takes a moment to leave, and a budget takes a moment to allow more.
        self._retry[key] = time.monotonic() + EVICTION_RETRY_SECONDS
        if not self.events.active.is_set():
            return
        try:
            status = self.api.evict(pod, namespace)
        except ApiException as error:
            self.metrics.evictions.labels(namespace=namespace, result="failed").inc()
            log.warning("Evicting pod %s/%s failed: %s", namespace, pod, error.reason)
            return
        ref = pod_ref(namespace, pod, uid)
        if status == 429:
            self.metrics.evictions.labels(namespace=namespace, result="blocked").inc()
            if key not in self._blocked:
                self._blocked.add(key)
                self.events.post(
                    ref,
                    c.EVICTION_BLOCKED,
                    f"Eviction from node {node} is refused for now by a PodDisruptionBudget;"
                    " the operator tries again.",
                    warning=True,
                )
        elif status == 201:
            self._blocked.discard(key)
            self.metrics.evictions.labels(namespace=namespace, result="evicted").inc()
            self.events.post(
                ref,
                c.POD_EVICTED,
                f"Evicted from node {node}, which does not qualify, so that the pod's controller"
                " recreates it on a qualified node.",
                warning=True,
            )
            log.info("Evicted pod %s/%s from node %s, which does not qualify", namespace, pod, node)
