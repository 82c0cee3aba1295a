"""What one replica remembers of the histories it writes while it is the active one.

Only a shortcut: the ConfigMap is the source of truth and is read before every append;
this says when an observation can change nothing (the same open violations, this
replica's ``observer`` record already written, no checkpoint due) so that it costs no
request.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from souverain.history.chain import CHECKPOINT_SECONDS, Key, Scope, Violation


@dataclass
class Seen:
    open: frozenset[Key]
    last: datetime


@dataclass
class Term:
    """The namespaces this replica observed, with a lock each so that the volume and
    namespace handlers append one after the other."""

    seen: dict[str, Seen] = field(default_factory=dict)
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

    def remember(self, namespace: str, opened: Iterable[Key], last: datetime | None) -> None:
        if last is not None:
            self.seen[namespace] = Seen(frozenset(opened), last)

    def forget(self, namespace: str) -> None:
        self.seen.pop(namespace, None)
