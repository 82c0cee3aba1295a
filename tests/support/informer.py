"""A source of lists and watch streams for informers, replayed from recordings."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any


class Recorded:
    """A source replaying lists and watch streams in order; the last stream sets ``stop``
    when it ends, so that :meth:`Informer.run` returns."""

    def __init__(
        self,
        lists: list[tuple[list[dict[str, Any]], str]],
        streams: list[list[tuple[str, dict[str, Any]]]],
        stop: threading.Event | None = None,
    ) -> None:
        self.lists, self.streams, self.stop = list(lists), list(streams), stop
        self.watched_from: list[str] = []

    def list_with_version(
        self, kind: str, label_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        return self.lists.pop(0)

    def watch(
        self,
        kind: str,
        resource_version: str,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> Iterator[tuple[str, dict[str, Any]]]:
        self.watched_from.append(resource_version)
        stream = self.streams.pop(0)
        yield from stream
        if not self.streams and self.stop is not None:
            self.stop.set()
