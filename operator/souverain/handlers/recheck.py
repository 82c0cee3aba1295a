"""The periodic pass over every SovereignNamespace, in case a change was missed while the
operator was busy: one thread converges them one at a time, spread evenly over
:data:`RECHECK_SECONDS`, on the active replica only.

One timer per object (kopf's) kept each body in memory and, for namespaces created
together, converged them all in the same second every period.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable

from souverain.handlers.namespace import converge_by_name
from souverain.kubeapi import describe
from souverain.runtime.context import Context
from souverain.runtime.work import TOLD, StandbyError

log = logging.getLogger(__name__)

RECHECK_SECONDS = 300.0
"""Each SovereignNamespace is converged again once in this period."""


def sweep(
    names: Callable[[], list[str]],
    handle: Callable[[str], None],
    stop: threading.Event,
    active: threading.Event,
    period: float = RECHECK_SECONDS,
) -> None:
    """Calls ``handle`` with each of ``names()`` once per ``period``, evenly spread, while
    ``active`` is set, until ``stop``. The names are read again at each period."""
    while not stop.is_set():
        if not active.wait(period):
            continue
        found = names()
        if not found:
            stop.wait(period)
            continue
        pause = period / len(found)
        for name in found:
            if stop.wait(pause):
                return
            if not active.is_set():
                break
            handle(name)


def recheck(context: Context, name: str) -> None:
    """Converges the SovereignNamespace ``name`` as it is now, unless it is gone; a failure
    is one log line (the next period tries again)."""
    try:
        with context.acting():
            converge_by_name(context, name)
    except StandbyError:
        pass
    except TOLD as error:
        log.warning("Rechecking SovereignNamespace %s failed: %s", name, describe(error))
    except Exception:
        log.exception("Rechecking SovereignNamespace %s failed", name)


def run(context: Context) -> None:
    """The sweep of every SovereignNamespace the snapshot holds."""
    sweep(
        lambda: sorted(
            sns["metadata"]["name"] for sns in context.snapshot.sovereign_namespaces.items()
        ),
        lambda name: recheck(context, name),
        context.stop,
        context.active,
    )
