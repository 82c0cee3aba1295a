"""Watches of the objects the operator manages, to put them back when someone deletes or
edits them.

They watch with a label selector, so the API server sends only the operator's objects,
and an object whose labels are removed arrives as a DELETED event. A few plain threads
do this at a fraction of what kopf's per-object machinery costs for thousands of small
children.
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from kubernetes.client.exceptions import ApiException

from souverain import labels
from souverain.kubeapi import KubeApi

log = logging.getLogger(__name__)

Repair = Callable[[str, dict[str, Any], str], None]

WATCHED: tuple[tuple[str, str], ...] = (
    ("NetworkPolicy", f"{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}"),
    ("RoleBinding", f"{labels.MANAGED_BY}={labels.MANAGED_BY_VALUE}"),
    ("Namespace", labels.SOVEREIGN_NAMESPACE),
)


def watch_forever(
    api: KubeApi, kind: str, selector: str, repair: Repair, stop: threading.Event
) -> None:
    """Lists, then watches, and starts over when the watch expires or fails."""
    while not stop.is_set():
        try:
            _, version = api.list_with_version(kind, selector)
            for event_type, obj in api.watch(kind, version, selector):
                if stop.is_set():
                    return
                if event_type == "ERROR":
                    break
                if event_type in ("MODIFIED", "DELETED"):
                    try:
                        repair(kind, obj, event_type)
                    except Exception:  # one bad repair must not end the watch
                        log.exception("Repairing %s %s failed", kind, obj["metadata"]["name"])
        except (ApiException, OSError, ValueError) as error:
            log.warning("Watch of %s ended (%s); starting over", kind, error)
            stop.wait(2.0)
        except Exception:
            log.exception("Watch of %s failed; starting over", kind)
            stop.wait(2.0)
        else:
            time.sleep(0.1)


def start(api: KubeApi, repair: Repair, stop: threading.Event) -> list[threading.Thread]:
    """One daemon thread per watched kind, running in the caller's context (so that they
    can post Events through kopf)."""
    threads = []
    for kind, selector in WATCHED:
        context = contextvars.copy_context()
        thread = threading.Thread(
            target=context.run,
            args=(watch_forever, api, kind, selector, repair, stop),
            name=f"souverain-drift-{kind}",
            daemon=True,
        )
        thread.start()
        threads.append(thread)
    return threads
