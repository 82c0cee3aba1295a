"""Everything the handlers, watches and servers share, built once by ``souverain run``
and handed to kopf's handlers as ``memo.context``.

No module holds state of its own: what the process knows lives here.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from souverain.history.term import Term
from souverain.kubeapi import KubeApi
from souverain.metrics import Metrics
from souverain.placement.state import PlacementState
from souverain.runtime.events import EventPoster
from souverain.runtime.snapshot import Snapshot
from souverain.runtime.work import StandbyError, WorkQueue
from souverain.settings import WebhookOptions


@dataclass
class Context:
    """The operator's API client, snapshot, Event poster and placement state."""

    api: KubeApi
    snapshot: Snapshot
    events: EventPoster
    placement: PlacementState
    webhook: WebhookOptions
    identity: str
    """This replica's name in the Lease and in the Events it posts."""
    active: threading.Event
    """Set while this replica is the active one: only then does it act."""
    stop: threading.Event
    metrics: Metrics
    counts: WorkQueue = field(default_factory=WorkQueue)
    """Profiles whose qualified nodes need counting again."""
    repairs: WorkQueue = field(default_factory=WorkQueue)
    """Managed objects to put back: ``SovereignNamespace/<name>`` or a webhook
    configuration's kind (see :func:`souverain.handlers.drift.repair`)."""
    watch_seconds: int = 300
    """How long each watch lasts before the API server ends it (kopf's watches too)."""
    webhook_configurations: dict[str, dict[str, Any]] = field(default_factory=dict)
    """The webhook configurations this replica applied when it became active, by kind:
    what it puts back when someone deletes or edits them."""
    unloading: set[str] = field(default_factory=set)
    """Profiles a binding of which was deleted and may still be loaded in the API server:
    their namespaces are not reported enforced until it is seen unloaded (see
    :func:`souverain.handlers.drift.restore_profile`)."""
    history: Term = field(default_factory=Term)
    """The namespaces whose history this replica wrote to (see :mod:`souverain.history`)."""
    _acting: int = 0
    _quiet: threading.Condition = field(default_factory=threading.Condition)
    _converging: dict[str, threading.Lock] = field(default_factory=dict)
    _converging_lock: threading.Lock = field(default_factory=threading.Lock)

    @contextmanager
    def converging(self, name: str) -> Iterator[None]:
        """One converge of the SovereignNamespace ``name`` at a time: kopf's handler, the
        profile's, the repairs and the periodic pass may all start one, and two at once
        would probe, write status and post Events over each other."""
        with self._converging_lock:
            lock = self._converging.setdefault(name, threading.Lock())
        with lock:
            yield

    @contextmanager
    def acting(self) -> Iterator[None]:
        """Work that changes the cluster: :class:`StandbyError` unless this replica is active;
        :meth:`step_down` waits for work begun before it to end."""
        with self._quiet:
            if not self.active.is_set():
                raise StandbyError
            self._acting += 1
        try:
            yield
        finally:
            with self._quiet:
                self._acting -= 1
                self._quiet.notify_all()

    def step_down(self, timeout: float) -> bool:
        """Stops acting: no new work begins, and work under way is waited for (True when
        it all ended within ``timeout`` seconds)."""
        with self._quiet:
            self.active.clear()
            return self._quiet.wait_for(lambda: self._acting == 0, timeout)

    @classmethod
    def build(
        cls, api: KubeApi, webhook: WebhookOptions, identity: str, *, watch_seconds: int = 300
    ) -> Context:
        active, stop = threading.Event(), threading.Event()
        metrics = Metrics()
        snapshot = Snapshot.of(api, watch_seconds, metrics.informer_lists)
        placement = PlacementState(
            snapshot,
            webhook,
            mutating_policies=api.serves("MutatingAdmissionPolicy"),
            active=active,
        )
        placement.subscribe()
        return cls(
            api=api,
            snapshot=snapshot,
            events=EventPoster(api, active, identity),
            placement=placement,
            webhook=webhook,
            identity=identity,
            active=active,
            stop=stop,
            metrics=metrics,
            watch_seconds=watch_seconds,
        )


def context_of(memo: Any) -> Context:
    """The context kopf passes to a handler in its ``memo``."""
    found: Context = memo.context
    return found
