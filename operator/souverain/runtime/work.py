"""Work queued by key and done on one thread, each key once however often it was added."""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Final

import kopf
from kubernetes.client.exceptions import ApiException

from souverain.kubeapi import describe


class StandbyError(Exception):
    """This replica is not the active one: the work is left to the one that is."""


log = logging.getLogger(__name__)

RETRIED: Final = (ApiException, OSError, kopf.TemporaryError)
"""Failures that are no bug and pass: the API server failed, was away, or the work said
it must wait. They are logged in one line and the work is tried again."""
TOLD: Final = (*RETRIED, kopf.PermanentError)
"""Failures told in one line, without a traceback: those of :data:`RETRIED`, and work
that says why it cannot be done (its status says so too)."""


class WorkQueue:
    """Keys waiting to be worked on. Adding a key that is already waiting adds nothing."""

    def __init__(self) -> None:
        self._keys: set[str] = set()
        self._wake = threading.Condition()

    def add(self, *keys: str) -> None:
        with self._wake:
            self._keys.update(keys)
            self._wake.notify()

    def take(self, timeout: float) -> set[str]:
        """The waiting keys (waiting up to ``timeout`` seconds for one), and no longer
        waiting."""
        with self._wake:
            if not self._keys:
                self._wake.wait(timeout)
            keys, self._keys = self._keys, set()
        return keys

    def __len__(self) -> int:
        with self._wake:
            return len(self._keys)


def work_on(
    queue: WorkQueue,
    handle: Callable[[str], None],
    stop: threading.Event,
    active: threading.Event,
    acting: Callable[[], AbstractContextManager[None]],
    *,
    period: float = 2.0,
    due: Callable[[], set[str]] | None = None,
) -> None:
    """Handles the queue's keys in order, while ``active`` is set, until ``stop``; every
    ``period`` seconds ``due`` may add keys of its own (retries). Each key is handled
    inside ``acting()``, which refuses work once the replica steps down."""
    while not stop.is_set():
        if not active.wait(period):
            continue
        keys = sorted(queue.take(period) | (due() if due is not None else set()))
        for index, key in enumerate(keys):
            try:
                with acting():
                    handle(key)
            except StandbyError:
                queue.add(key)  # for the next term, if this replica is active again
            except RETRIED as error:
                # The API server failed or is away: tried again on the next round.
                log.warning("Working on %s failed: %s; trying again", key, describe(error))
                queue.add(*keys[index:])
                stop.wait(period)
                break
            except kopf.PermanentError as error:  # the status says why; nothing to retry
                log.warning("Working on %s failed: %s", key, describe(error))
            except Exception:
                log.exception("Working on %s failed", key)


def start_worker(name: str, target: Callable[[], None]) -> threading.Thread:
    """Runs ``target`` on a daemon thread named ``souverain-<name>``."""
    thread = threading.Thread(target=target, name=f"souverain-{name}", daemon=True)
    thread.start()
    return thread
