"""Prometheus metrics of the operator: what it reconciles and what it finds.

Names and labels are documented in the README; series of deleted objects are removed.
One :class:`Metrics` per process, in its context, with a registry of its own.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, start_http_server


def _drop_other_series(gauge: Gauge, namespace: str, keep: str | None) -> None:
    for labels, _ in list(gauge._metrics.items()):
        if labels[0] == namespace and labels[1] != keep:
            gauge.remove(*labels)


def _set_counts(gauge: Gauge, counts: dict[tuple[str, str], int]) -> None:
    """Sets ``gauge`` to ``counts`` and removes the series no longer counted."""
    for labels, _ in list(gauge._metrics.items()):
        if tuple(labels) not in counts:
            gauge.remove(*labels)
    for labels, count in counts.items():
        gauge.labels(*labels).set(count)


class Metrics:
    """The operator's series, and what it remembers to keep counts by profile."""

    def __init__(self) -> None:
        self.registry = registry = CollectorRegistry()
        self.reconciles = Counter(
            "souverain_reconcile",
            "Reconciliations, by kind of object and result (success or error).",
            ["kind", "result"],
            registry=registry,
        )
        self.reconcile_seconds = Histogram(
            "souverain_reconcile_duration_seconds",
            "Time spent reconciling one object, by kind.",
            ["kind"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=registry,
        )
        self.sovereign_namespaces = Gauge(
            "souverain_sovereign_namespaces",
            "SovereignNamespaces, by profile and by the status of their Ready condition.",
            ["profile", "ready"],
            registry=registry,
        )
        self.qualified_nodes = Gauge(
            "souverain_qualified_nodes",
            "Nodes that meet a profile's node requirements.",
            ["profile"],
            registry=registry,
        )
        self.resident_volumes = Gauge(
            "souverain_resident_volumes",
            "ResidentVolumes, by profile and by the status of their Resident condition.",
            ["profile", "resident"],
            registry=registry,
        )
        self.volume_resident = Gauge(
            "souverain_volume_resident",
            "1 when a ResidentVolume's bound volume is proven to lie inside its profile, else 0.",
            ["namespace", "name", "profile"],
            registry=registry,
        )
        self.leader = Gauge(
            "souverain_leader",
            "1 while this replica is the active one (it holds the Lease), else 0.",
            registry=registry,
        )
        self.informer_lists = Counter(
            "souverain_informer_lists",
            "Lists of a kind by the operator's informers: the first, and one after every watch.",
            ["kind"],
            registry=registry,
        )
        self.admission_decisions = Counter(
            "souverain_admission_decisions",
            "Admission reviews answered by the operator's webhooks, by webhook (pin, binding),"
            " operation and outcome (allowed, patched, refused, warned).",
            ["webhook", "operation", "outcome"],
            registry=registry,
        )
        self.admission_seconds = Histogram(
            "souverain_admission_duration_seconds",
            "Time the operator spends deciding one admission review, by webhook and operation.",
            ["webhook", "operation"],
            buckets=(0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1),
            registry=registry,
        )
        self.non_compliant_pods = Gauge(
            "souverain_non_compliant_pods",
            "Pods of a sovereign namespace running on nodes that do not meet its profile.",
            ["namespace", "profile"],
            registry=registry,
        )
        self.compliant_pods = Gauge(
            "souverain_compliant_pods",
            "Scheduled pods of a sovereign namespace running on nodes that meet its profile.",
            ["namespace", "profile"],
            registry=registry,
        )
        self.evictions = Counter(
            "souverain_evictions",
            "Evictions of non-compliant pods, by namespace and result (evicted, blocked, failed).",
            ["namespace", "result"],
            registry=registry,
        )
        self.history_records = Gauge(
            "souverain_history_records",
            "Records in a sovereign namespace's violation history since it began.",
            ["namespace"],
            registry=registry,
        )
        self.open_violations = Gauge(
            "souverain_history_open_violations",
            "Violations of a sovereign namespace its history has open (started, not ended).",
            ["namespace"],
            registry=registry,
        )
        self._admission: dict[tuple[str, str, str], tuple[Counter, Histogram]] = {}
        self._namespaces: dict[str, tuple[str, str]] = {}
        self._volumes: dict[tuple[str, str], tuple[str, str]] = {}
        self._lock = threading.Lock()

    @contextmanager
    def reconciling(self, kind: str) -> Iterator[None]:
        """Counts and times one reconciliation of an object of ``kind``."""
        start = time.perf_counter()
        try:
            yield
        except BaseException:
            self.reconciles.labels(kind=kind, result="error").inc()
            raise
        else:
            self.reconciles.labels(kind=kind, result="success").inc()
        finally:
            self.reconcile_seconds.labels(kind=kind).observe(time.perf_counter() - start)

    def record_admission(self, webhook: str, operation: str, outcome: str, seconds: float) -> None:
        """Counts and times one admission review; its series are looked up once."""
        key = (webhook, operation, outcome)
        series = self._admission.get(key)
        if series is None:
            series = self._admission[key] = (
                self.admission_decisions.labels(webhook, operation, outcome),
                self.admission_seconds.labels(webhook, operation),
            )
        series[0].inc()
        series[1].observe(seconds)

    @staticmethod
    def _count(found: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        counts: dict[tuple[str, str], int] = {}
        for key in found:
            counts[key] = counts.get(key, 0) + 1
        return counts

    def record_namespace(self, name: str, profile: str, ready: str) -> None:
        """Remembers the profile and readiness of one SovereignNamespace."""
        with self._lock:
            if self._namespaces.get(name) != (profile, ready):
                self._namespaces[name] = (profile, ready)
                _set_counts(self.sovereign_namespaces, self._count(self._namespaces.values()))

    def forget_namespace(self, name: str) -> None:
        """Drops a deleted SovereignNamespace from the counts."""
        with self._lock:
            if self._namespaces.pop(name, None) is not None:
                _set_counts(self.sovereign_namespaces, self._count(self._namespaces.values()))

    def record_qualified_nodes(self, profile: str, count: int) -> None:
        self.qualified_nodes.labels(profile=profile).set(count)

    def forget_profile(self, profile: str) -> None:
        """Removes the series of a deleted profile."""
        with suppress(KeyError):
            self.qualified_nodes.remove(profile)

    def record_volume(self, namespace: str, name: str, profile: str, resident: str) -> None:
        """Remembers the profile and the Resident status (True, False or Unknown) of one
        ResidentVolume."""
        with self._lock:
            previous = self._volumes.get((namespace, name))
            if previous == (profile, resident):
                return
            if previous is not None and previous[0] != profile:
                with suppress(KeyError):
                    self.volume_resident.remove(namespace, name, previous[0])
            self._volumes[(namespace, name)] = (profile, resident)
            self.volume_resident.labels(namespace=namespace, name=name, profile=profile).set(
                1 if resident == "True" else 0
            )
            _set_counts(self.resident_volumes, self._count(self._volumes.values()))

    def forget_volume(self, namespace: str, name: str) -> None:
        """Removes the series of a deleted ResidentVolume."""
        with self._lock:
            previous = self._volumes.pop((namespace, name), None)
            if previous is not None:
                with suppress(KeyError):
                    self.volume_resident.remove(namespace, name, previous[0])
                _set_counts(self.resident_volumes, self._count(self._volumes.values()))

    def record_non_compliant(
        self, namespace: str, profile: str | None, count: int, compliant: int | None = None
    ) -> None:
        """Sets the non-compliant (and compliant) pods of a namespace; ``profile`` None
        drops its series."""
        for gauge in (self.non_compliant_pods, self.compliant_pods):
            _drop_other_series(gauge, namespace, profile)
        if profile is not None:
            self.non_compliant_pods.labels(namespace=namespace, profile=profile).set(count)
            if compliant is not None:
                self.compliant_pods.labels(namespace=namespace, profile=profile).set(compliant)

    def record_history(self, namespace: str, records: int, open_violations: int) -> None:
        self.history_records.labels(namespace=namespace).set(records)
        self.open_violations.labels(namespace=namespace).set(open_violations)

    def forget_history(self, namespace: str) -> None:
        for gauge in (self.history_records, self.open_violations):
            with suppress(KeyError):
                gauge.remove(namespace)

    def serve(self, address: str) -> None:
        """Serves ``/metrics`` on ``host:port`` in a background thread."""
        host, _, port = address.rpartition(":")
        start_http_server(int(port), addr=host or "0.0.0.0", registry=self.registry)
