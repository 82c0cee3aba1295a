"""The operator's one way of watching the cluster: an informer per kind.

An :class:`Informer` lists a kind, then watches it from the list's resourceVersion with
bookmarks, and keeps a snapshot of what it saw (trimmed to what its readers need).
When a watch ends, by its timeout or by an error, it lists again, *replaces* its
snapshot, and tells its subscribers what changed while it was away: objects that
appeared, changed, or vanished. An object that did not change is not announced again.
``synced`` is set once the first list is in the snapshot.

Subscribers run on the informer's thread, one change at a time, in order.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from kubernetes.client.exceptions import ApiException

from souverain.kubeapi import WatchSilentError, describe
from souverain.runtime.work import TOLD

log = logging.getLogger(__name__)

ChangeType = Literal["ADDED", "MODIFIED", "DELETED"]


@dataclass(frozen=True)
class Change:
    """One change of one object: for DELETED, ``obj`` is the last state seen."""

    type: ChangeType
    obj: dict[str, Any]
    old: dict[str, Any] | None


Subscriber = Callable[[Change], None]


class Source(Protocol):
    """Lists and watches, as :class:`souverain.kubeapi.KubeApi` does."""

    def list_with_version(
        self, kind: str, label_selector: str | None = None
    ) -> tuple[Iterable[dict[str, Any]], str]: ...

    def watch(
        self,
        kind: str,
        resource_version: str,
        label_selector: str | None = None,
        timeout_seconds: int = 300,
    ) -> Iterator[tuple[str, dict[str, Any]]]: ...


def key_of(obj: dict[str, Any]) -> str:
    """``namespace/name``, or ``name`` for a cluster-scoped object."""
    metadata = obj["metadata"]
    namespace = metadata.get("namespace")
    return f"{namespace}/{metadata['name']}" if namespace else str(metadata["name"])


def _version(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else obj["metadata"].get("resourceVersion")


class Informer:
    """The snapshot of one kind (optionally label-selected), kept by one thread."""

    def __init__(
        self,
        source: Source,
        kind: str,
        *,
        api_version: str | None = None,
        selector: str | None = None,
        keep: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
        watch_seconds: int = 300,
        retry_seconds: float = 2.0,
        listed: Callable[[], None] | None = None,
    ) -> None:
        self.source = source
        self.kind = kind
        self.api_version = api_version
        self.selector = selector
        self.keep = keep or (lambda obj: obj)
        self.watch_seconds = watch_seconds
        self.retry_seconds = retry_seconds
        self.synced = threading.Event()
        self.lists = 0
        """How many times the kind was listed (the first list and every re-list)."""
        self._listed = listed
        self._objects: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._subscribers: list[Subscriber] = []

    # -- reading ------------------------------------------------------------------

    def get(self, name: str, namespace: str | None = None) -> dict[str, Any] | None:
        """The object as last seen, or None."""
        with self._lock:
            return self._objects.get(f"{namespace}/{name}" if namespace else name)

    def items(self) -> list[dict[str, Any]]:
        """Every object as last seen."""
        with self._lock:
            return list(self._objects.values())

    def subscribe(self, subscriber: Subscriber) -> None:
        """Calls ``subscriber`` with every change from now on (before :meth:`start`, it
        sees the first list as ADDED changes)."""
        self._subscribers.append(subscriber)

    # -- keeping ------------------------------------------------------------------

    def relist(self) -> str | None:
        """Lists the kind, replaces the snapshot, announces the differences; returns the
        resourceVersion to watch from, or None when the kind is not served (yet): there
        are none of it then, such as before a CRD is installed."""
        try:
            items, version = self.source.list_with_version(self.kind, self.selector)
        except ApiException as error:
            if error.status != 404:
                raise
            if self.lists == 0:
                log.warning("%s is not served; none are known until it is", self.kind)
            items, version = [], None
        # Items of a list carry no kind or apiVersion; watch events do.
        typed = {
            "kind": self.kind,
            **({"apiVersion": self.api_version} if self.api_version else {}),
        }
        # Each object is trimmed as it is read: a page of the list at a time is held whole.
        listed = {key_of(item): self.keep({**item, **typed}) for item in items}
        changes: list[Change] = []
        with self._lock:
            before, self._objects = self._objects, listed
        for key, obj in listed.items():
            old = before.get(key)
            if old is None:
                changes.append(Change("ADDED", obj, None))
            elif _version(old) != _version(obj):
                changes.append(Change("MODIFIED", obj, old))
        for key, old in before.items():
            if key not in listed:
                changes.append(Change("DELETED", old, old))
        self.lists += 1
        if self._listed is not None:
            self._listed()
        for change in changes:
            self._announce(change)
        self.synced.set()
        return version

    def seen(self, event_type: str, raw: dict[str, Any]) -> None:
        """Takes one watch event into the snapshot and announces it."""
        if event_type not in ("ADDED", "MODIFIED", "DELETED"):
            return
        obj = self.keep(raw)
        key = key_of(obj)
        with self._lock:
            old = self._objects.get(key)
            if event_type == "DELETED":
                self._objects.pop(key, None)
            else:
                self._objects[key] = obj
        if event_type == "DELETED":
            self._announce(Change("DELETED", obj, old))
        elif old is None:
            self._announce(Change("ADDED", obj, None))
        elif _version(old) != _version(obj):
            self._announce(Change("MODIFIED", obj, old))

    def _announce(self, change: Change) -> None:
        for subscriber in self._subscribers:
            try:
                subscriber(change)
            except TOLD as error:
                # The API server failed, or the work says why it cannot be done: one line.
                log.warning(
                    "Handling %s %s %s failed: %s",
                    change.type,
                    self.kind,
                    key_of(change.obj),
                    describe(error),
                )
            except Exception:  # one failing subscriber must not end the watch
                log.exception(
                    "Handling %s %s %s failed", change.type, self.kind, key_of(change.obj)
                )

    def watch_once(self, version: str, stop: threading.Event) -> None:
        """Watches from ``version`` until the watch ends, an ERROR event arrives (such as
        410 Gone, when the version is too old) or ``stop`` is set."""
        for event_type, obj in self.source.watch(
            self.kind, version, self.selector, timeout_seconds=self.watch_seconds
        ):
            if stop.is_set():
                return
            if event_type == "ERROR":
                log.info("Watch of %s ended: %s; listing again", self.kind, obj.get("message"))
                return
            if event_type == "BOOKMARK":
                continue
            self.seen(event_type, obj)

    def run(self, stop: threading.Event) -> None:
        """Lists and watches until ``stop`` is set; lists again after every watch."""
        while not stop.is_set():
            try:
                version = self.relist()
                if version is None:
                    stop.wait(self.retry_seconds)
                    continue
                self.watch_once(version, stop)
            except WatchSilentError as error:
                # A quiet kind or a hung API server: listing again tells which.
                log.info("Watch of %s ended (%s); listing again", self.kind, describe(error))
            except (ApiException, OSError, ValueError) as error:
                log.warning("Watch of %s failed (%s); listing again", self.kind, describe(error))
                stop.wait(self.retry_seconds)
            except Exception:
                log.exception("Watch of %s failed; listing again", self.kind)
                stop.wait(self.retry_seconds)

    def start(self, stop: threading.Event) -> threading.Thread:
        """Runs :meth:`run` on a daemon thread."""
        thread = threading.Thread(
            target=self.run, args=(stop,), name=f"souverain-watch-{self.kind}", daemon=True
        )
        thread.start()
        return thread
