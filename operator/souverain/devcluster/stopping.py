"""Stopping the processes of the local control plane: one at a time, the last started
first, so that each still has what it needs to end cleanly.

The API server's shutdown writes to etcd (it removes its peer endpoint lease, for one):
signalled together with etcd, it can wait for it until it is killed after the timeout
(20 s). Stopped before etcd, it ends in about a second, and the whole control plane in
under two.
"""

from __future__ import annotations

import contextlib
import os
import signal
import time
from collections.abc import Callable

from souverain.devcluster.state import ProcessRecord, pid_alive

STOP_SECONDS = 20.0
"""How long a component gets to end after SIGTERM before it is killed."""


def _no_reaping(pid: int) -> None:
    """For a process that did not start the components: init reaps them."""


def stop_process(
    pid: int, timeout: float = STOP_SECONDS, reap: Callable[[int], None] = _no_reaping
) -> bool:
    """Sends SIGTERM to the process group of ``pid`` (SIGCONT too, so that a paused one can
    exit), waits for it to end and kills it after ``timeout``; False when it was not
    running. ``reap`` collects the exit status of a child of this process."""
    if not pid_alive(pid):
        return False
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGTERM)
        os.killpg(pid, signal.SIGCONT)
    deadline = time.monotonic() + timeout
    while pid_alive(pid) and time.monotonic() < deadline:
        reap(pid)
        time.sleep(0.05)
    if pid_alive(pid):
        with contextlib.suppress(ProcessLookupError):
            os.killpg(pid, signal.SIGKILL)
        while pid_alive(pid):
            reap(pid)
            time.sleep(0.05)
    reap(pid)
    return True


def stop_in_order(
    processes: list[ProcessRecord],
    timeout: float = STOP_SECONDS,
    reap: Callable[[int], None] = _no_reaping,
) -> list[str]:
    """Stops every recorded process, the last started first, each waited for before the
    next; the names of those that were running, in the order they were stopped."""
    return [
        record.name for record in reversed(processes) if stop_process(record.pid, timeout, reap)
    ]
