"""What one replica remembers of the histories it writes while it is the active one.

Only a shortcut: the ConfigMap is the source of truth. This says when an observation
can change nothing (the same open violations, this replica's ``observer`` record already
written, no checkpoint due) so that it costs no request, and keeps the ConfigMaps this
replica last wrote, with their resourceVersion, so that the next append is written
without reading them first: a ConfigMap changed by anyone else since then refuses the
write (409), and the append reads it and starts again.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from souverain.history.chain import CHECKPOINT_SECONDS, History, Key, Scope, Violation

STORED_BYTES = 4 * 1024 * 1024
"""Bytes of records kept of the ConfigMaps last written, least recently written dropped
first: a few records each for thousands of namespaces, and one read per append for the
namespaces past it."""


@dataclass
class Seen:
    open: frozenset[Key]
    last: datetime
    anchor: dict[str, Any] | None = None
    """The ``status.history`` that anchors the head this replica last wrote."""


@dataclass(frozen=True)
class Stored:
    """A ConfigMap as this replica last wrote it."""

    history: History
    version: str

    @property
    def size(self) -> int:
        return sum(len(line) for line in self.history.lines) + 256


@dataclass
class Term:
    """The namespaces this replica observed, with a lock each so that the volume and
    namespace handlers append one after the other."""

    seen: dict[str, Seen] = field(default_factory=dict)
    budget: int = STORED_BYTES
    _stored: OrderedDict[str, Stored] = field(default_factory=OrderedDict)
    _bytes: int = 0
    _locks: dict[str, threading.Lock] = field(default_factory=dict)
    _guard: threading.Lock = field(default_factory=threading.Lock)

    def lock(self, namespace: str) -> threading.Lock:
        with self._guard:
            return self._locks.setdefault(namespace, threading.Lock())

    def unchanged(
        self, namespace: str, current: Iterable[Violation], scope: Scope, now: datetime
    ) -> bool:
        """Whether observing ``current`` in ``scope`` would append nothing, as far as
        this replica knows."""
        seen = self.seen.get(namespace)
        if seen is None or now - seen.last >= timedelta(seconds=CHECKPOINT_SECONDS):
            return False
        mine = {key for key in seen.open if scope(*key)}
        return mine == {v.key for v in current if scope(v.kind, v.object)}

    def remember(
        self,
        namespace: str,
        opened: Iterable[Key],
        last: datetime | None,
        anchor: dict[str, Any] | None = None,
    ) -> None:
        if last is not None:
            self.seen[namespace] = Seen(frozenset(opened), last, anchor)

    def anchor(self, namespace: str) -> dict[str, Any] | None:
        seen = self.seen.get(namespace)
        return seen.anchor if seen is not None else None

    def stored(self, namespace: str) -> Stored | None:
        """The ConfigMap of ``namespace`` as this replica last wrote it, if kept."""
        with self._guard:
            return self._stored.get(namespace)

    def drop(self, namespace: str) -> None:
        """Forgets the ConfigMap of ``namespace``: the next append reads it."""
        with self._guard:
            self._drop(namespace)

    def store(self, namespace: str, history: History, version: str | None) -> None:
        """Keeps what this replica just wrote (``version`` None: forgets it)."""
        with self._guard:
            self._drop(namespace)
            if not version:
                return
            kept = Stored(history, version)
            self._stored[namespace] = kept
            self._bytes += kept.size
            while self._bytes > self.budget and self._stored:
                _, dropped = self._stored.popitem(last=False)
                self._bytes -= dropped.size

    def _drop(self, namespace: str) -> None:
        old = self._stored.pop(namespace, None)
        if old is not None:
            self._bytes -= old.size

    def forget(self, namespace: str) -> None:
        self.seen.pop(namespace, None)
        self.drop(namespace)
