"""Before the informers list them: the operator's own kinds, served by the API server.

Right after their CRDs are created or changed (``helm install``, ``make run``), or after
the API server restarted, the API server answers lists and watches of a kind with ``429
storage is (re)initializing`` until its watch cache of that kind is filled. Started then,
the informers and kopf would each log that failure and try again; the operator waits for
it instead, saying so in one line.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable
from typing import Any, Protocol

from kubernetes.client.exceptions import ApiException

from souverain.kubeapi import describe

log = logging.getLogger(__name__)

OWN_KINDS = ("SovereigntyProfile", "SovereignNamespace", "ResidentVolume")
INITIALIZING = 429
"""What the API server answers for a kind whose storage is not ready yet."""


class Lister(Protocol):
    """Lists a kind, as :class:`souverain.kubeapi.KubeApi` does."""

    def list_with_version(
        self, kind: str, label_selector: str | None = None
    ) -> tuple[Iterable[dict[str, Any]], str]: ...


def wait_served(
    source: Lister,
    stop: threading.Event,
    kinds: tuple[str, ...] = OWN_KINDS,
    retry_seconds: float = 0.5,
) -> bool:
    """Waits until a list of each of ``kinds`` is answered with anything but 429 (True), or
    until ``stop`` is set (False). A kind that is not served at all (404, its CRD is not
    installed) or an API server that fails otherwise is left to the informers, which
    report it and list again."""
    told = False
    waiting = list(kinds)
    while waiting:
        initializing: list[str] = []
        reason = ""
        for kind in waiting:
            try:
                source.list_with_version(kind)
            except ApiException as error:
                if error.status == INITIALIZING:
                    initializing.append(kind)
                    reason = describe(error)
            except (OSError, ValueError):
                pass
        waiting = initializing
        if waiting and not told:
            log.info("Waiting for the API server to serve %s (%s)", ", ".join(waiting), reason)
            told = True
        if waiting and stop.wait(retry_seconds):
            return False
    return True
