"""The settle loop: for every namespace placement marked, the metrics, the Events about
pods (pinned, on a node that does not qualify, evicted) and, under Enforce with eviction
on, the evictions; then the SovereignNamespace's status when its counts changed.

It runs only on the active replica (see :func:`souverain.runtime.work.work_on`).
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from contextlib import AbstractContextManager
from typing import Any

from kubernetes.client.exceptions import ApiException

from souverain.api import conditions as c
from souverain.kubeapi import KubeApi, describe
from souverain.metrics import Metrics
from souverain.placement.state import PlacementState
from souverain.runtime.events import EventPoster
from souverain.runtime.work import RETRIED, TOLD, StandbyError, work_on

log = logging.getLogger(__name__)

EVICTION_RETRY_SECONDS = 5.0
SWEEP_SECONDS = 2.0
STATUS_WRITERS = 4
"""Statuses written at once. A node that stops qualifying changes the status of every
namespace with pods on it, hundreds at scale; written one at a time (the status and the
history's record, four requests each), the last of them waited tens of seconds."""

Summary = tuple[int, tuple[tuple[str, str], ...]]


def pod_ref(namespace: str, name: str, uid: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "uid": uid},
    }


class Settler:
    """Settles marked namespaces, one at a time; their statuses are written by
    :data:`STATUS_WRITERS` threads, a namespace's by one thread at a time."""

    def __init__(
        self,
        state: PlacementState,
        api: KubeApi,
        events: EventPoster,
        on_change: Callable[[str], None],
        metrics: Metrics,
        writers: int = STATUS_WRITERS,
    ) -> None:
        self.state = state
        self.metrics = metrics
        self.api = api
        self.events = events
        self.on_change = on_change
        self._reported: dict[str, set[tuple[str, str]]] = {}
        self._last: dict[str, Summary] = {}
        self._retry: dict[tuple[str, str], float] = {}
        self._blocked: set[tuple[str, str]] = set()
        self._pool = ThreadPoolExecutor(writers, thread_name_prefix="souverain-status")
        self._lock = threading.Lock()
        self._writing: set[str] = set()
        self._again: set[str] = set()
        self._rewrite: dict[str, float] = {}
        self._futures: set[Future[None]] = set()
        self._acting: Callable[[], AbstractContextManager[None]] = contextlib.nullcontext

    def activate(self) -> None:
        """This replica became the active one: every bound namespace is settled again, and
        what an earlier term reported is forgotten."""
        self._reported.clear()
        self._last.clear()
        self.state.fresh.clear()
        self.state.mark_all()

    def due(self) -> set[str]:
        now = time.monotonic()
        found = {namespace for (namespace, _), when in list(self._retry.items()) if when <= now}
        with self._lock:
            rewrite = {namespace for namespace, when in self._rewrite.items() if when <= now}
            for namespace in rewrite:
                self._rewrite.pop(namespace, None)
        return found | rewrite

    def run(
        self,
        stop: threading.Event,
        active: threading.Event,
        acting: Callable[[], AbstractContextManager[None]],
    ) -> None:
        self._acting = acting
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
            self._write(namespace, summary)
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

    def _write(self, namespace: str, summary: Summary) -> None:
        """Writes the status of ``namespace`` on a writer thread; one that is being
        written is written again once that write ends, from what placement knows then."""
        with self._lock:
            if namespace in self._writing:
                self._again.add(namespace)
                return
            self._writing.add(namespace)
        future = self._pool.submit(self._write_now, namespace, summary)
        self._futures.add(future)
        future.add_done_callback(self._futures.discard)

    def _write_now(self, namespace: str, summary: Summary) -> None:
        try:
            with self._acting():
                self.on_change(namespace)
        except StandbyError:
            pass  # the next term settles every namespace again
        except RETRIED as error:
            log.warning(
                "Writing the status of %s failed: %s; trying again", namespace, describe(error)
            )
            with self._lock:
                self._rewrite[namespace] = time.monotonic() + SWEEP_SECONDS
        except TOLD as error:  # the status says why; nothing to retry
            log.warning("Writing the status of %s failed: %s", namespace, describe(error))
        except Exception:
            log.exception("Writing the status of %s failed", namespace)
        else:
            self._last[namespace] = summary  # once written: a failed write is tried again
        finally:
            with self._lock:
                self._writing.discard(namespace)
                again = namespace in self._again
                self._again.discard(namespace)
            if again:
                self.state.mark(namespace)

    def flush(self) -> None:
        """Waits until the statuses being written are written."""
        while self._futures:
            wait(list(self._futures))

    def _written_differs(self, namespace: str, summary: Summary) -> bool:
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
