"""Prometheus metrics of the operator: what it reconciles and what it finds.

Names and labels are documented in the README; series of deleted objects are removed.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server

REGISTRY = CollectorRegistry()

RECONCILES = Counter(
    "souverain_reconcile",
    "Reconciliations, by kind of object and result (success or error).",
    ["kind", "result"],
    registry=REGISTRY,
)
RECONCILE_SECONDS = Histogram(
    "souverain_reconcile_duration_seconds",
    "Time spent reconciling one object, by kind.",
    ["kind"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
SOVEREIGN_NAMESPACES = Gauge(
    "souverain_sovereign_namespaces",
    "SovereignNamespaces, by profile and by the status of their Ready condition.",
    ["profile", "ready"],
    registry=REGISTRY,
)
QUALIFIED_NODES = Gauge(
    "souverain_qualified_nodes",
    "Nodes that meet a profile's node requirements.",
    ["profile"],
    registry=REGISTRY,
)

RESIDENT_VOLUMES = Gauge(
    "souverain_resident_volumes",
    "ResidentVolumes, by profile and by the status of their Resident condition.",
    ["profile", "resident"],
    registry=REGISTRY,
)
VOLUME_RESIDENT = Gauge(
    "souverain_volume_resident",
    "1 when a ResidentVolume's bound volume is proven to lie inside its profile, else 0.",
    ["namespace", "name", "profile"],
    registry=REGISTRY,
)

LEADER = Gauge(
    "souverain_leader",
    "1 while this replica is the active one (it holds the Lease), else 0.",
    registry=REGISTRY,
)

_namespaces: dict[str, tuple[str, str]] = {}
_volumes: dict[tuple[str, str], tuple[str, str]] = {}
_lock = threading.Lock()


@contextmanager
def reconciling(kind: str) -> Iterator[None]:
    """Counts and times one reconciliation of an object of ``kind``."""
    start = time.perf_counter()
    try:
        yield
    except BaseException:
        RECONCILES.labels(kind=kind, result="error").inc()
        raise
    else:
        RECONCILES.labels(kind=kind, result="success").inc()
    finally:
        RECONCILE_SECONDS.labels(kind=kind).observe(time.perf_counter() - start)


def _recount() -> None:
    counts: dict[tuple[str, str], int] = {}
    for key in _namespaces.values():
        counts[key] = counts.get(key, 0) + 1
    for labels, _ in list(SOVEREIGN_NAMESPACES._metrics.items()):
        if tuple(labels) not in counts:
            SOVEREIGN_NAMESPACES.remove(*labels)
    for (profile, ready), count in counts.items():
        SOVEREIGN_NAMESPACES.labels(profile=profile, ready=ready).set(count)


def record_namespace(name: str, profile: str, ready: str) -> None:
    """Remembers the profile and readiness of one SovereignNamespace."""
    with _lock:
        if _namespaces.get(name) != (profile, ready):
            _namespaces[name] = (profile, ready)
            _recount()


def forget_namespace(name: str) -> None:
    """Drops a deleted SovereignNamespace from the counts."""
    with _lock:
        if _namespaces.pop(name, None) is not None:
            _recount()


def record_qualified_nodes(profile: str, count: int) -> None:
    QUALIFIED_NODES.labels(profile=profile).set(count)


def forget_profile(profile: str) -> None:
    """Removes the series of a deleted profile."""
    with suppress(KeyError):
        QUALIFIED_NODES.remove(profile)


def _recount_volumes() -> None:
    counts: dict[tuple[str, str], int] = {}
    for key in _volumes.values():
        counts[key] = counts.get(key, 0) + 1
    for labels, _ in list(RESIDENT_VOLUMES._metrics.items()):
        if tuple(labels) not in counts:
            RESIDENT_VOLUMES.remove(*labels)
    for (profile, resident), count in counts.items():
        RESIDENT_VOLUMES.labels(profile=profile, resident=resident).set(count)


def record_volume(namespace: str, name: str, profile: str, resident: str) -> None:
    """Remembers the profile and the Resident status (True, False or Unknown) of one
    ResidentVolume."""
    with _lock:
        previous = _volumes.get((namespace, name))
        if previous == (profile, resident):
            return
        if previous is not None and previous[0] != profile:
            with suppress(KeyError):
                VOLUME_RESIDENT.remove(namespace, name, previous[0])
        _volumes[(namespace, name)] = (profile, resident)
        VOLUME_RESIDENT.labels(namespace=namespace, name=name, profile=profile).set(
            1 if resident == "True" else 0
        )
        _recount_volumes()


def forget_volume(namespace: str, name: str) -> None:
    """Removes the series of a deleted ResidentVolume."""
    with _lock:
        previous = _volumes.pop((namespace, name), None)
        if previous is not None:
            with suppress(KeyError):
                VOLUME_RESIDENT.remove(namespace, name, previous[0])
            _recount_volumes()


ADMISSION_DECISIONS = Counter(
    "souverain_admission_decisions",
    "Admission reviews answered by the operator's webhooks, by webhook (pin, binding),"
    " operation and outcome (allowed, patched, refused, warned).",
    ["webhook", "operation", "outcome"],
    registry=REGISTRY,
)
ADMISSION_SECONDS = Histogram(
    "souverain_admission_duration_seconds",
    "Time the operator spends deciding one admission review, by webhook and operation.",
    ["webhook", "operation"],
    buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
    registry=REGISTRY,
)
NON_COMPLIANT_PODS = Gauge(
    "souverain_non_compliant_pods",
    "Pods of a sovereign namespace running on nodes that do not meet its profile.",
    ["namespace", "profile"],
    registry=REGISTRY,
)
EVICTIONS = Counter(
    "souverain_evictions",
    "Evictions of non-compliant pods, by namespace and result (evicted, blocked, failed).",
    ["namespace", "result"],
    registry=REGISTRY,
)


COMPLIANT_PODS = Gauge(
    "souverain_compliant_pods",
    "Scheduled pods of a sovereign namespace running on nodes that meet its profile.",
    ["namespace", "profile"],
    registry=REGISTRY,
)


def record_non_compliant(
    namespace: str, profile: str | None, count: int, compliant: int | None = None
) -> None:
    """Sets the non-compliant (and compliant) pods of a namespace; ``profile`` None drops
    its series."""
    for gauge in (NON_COMPLIANT_PODS, COMPLIANT_PODS):
        for labels, _ in list(gauge._metrics.items()):
            if labels[0] == namespace and labels[1] != profile:
                gauge.remove(*labels)
    if profile is not None:
        NON_COMPLIANT_PODS.labels(namespace=namespace, profile=profile).set(count)
        if compliant is not None:
            COMPLIANT_PODS.labels(namespace=namespace, profile=profile).set(compliant)


def serve(address: str) -> None:
    """Serves ``/metrics`` on ``host:port`` in a background thread."""
    host, _, port = address.rpartition(":")
    start_http_server(int(port), addr=host or "0.0.0.0", registry=REGISTRY)
