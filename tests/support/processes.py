"""Processes as Linux shows them in /proc: those of a session, and whether one still runs
(known by its pid and start time, so that a reused pid is not mistaken for it)."""

from __future__ import annotations

import os
import signal
from dataclasses import dataclass


def as_a_terminal_job() -> None:
    """For ``preexec_fn``: the child takes Ctrl-C's signals as a terminal's job does. A
    shell without job control starts its background commands with SIGINT and SIGQUIT
    ignored, and children inherit that (a shell cannot even trap them again), so tests
    started that way would otherwise see Ctrl-C do nothing."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGQUIT, signal.SIG_DFL)


@dataclass(frozen=True)
class Process:
    """One process: its pid, when it started (clock ticks after boot) and its command."""

    pid: int
    started: int
    command: str

    def alive(self) -> bool:
        """Whether it still runs (a zombie does not)."""
        found = _stat(self.pid)
        return found is not None and found[2] == self.started and found[0] != "Z"

    def __str__(self) -> str:
        return f"{self.pid} {self.command[:100]}"


def _stat(pid: int) -> tuple[str, int, int] | None:
    """State, session id and start time of ``pid``, or None when there is none."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(") ", 1)[1].split()
    except (OSError, IndexError):
        return None
    # After the command: state, ppid, pgrp, session, ... and starttime, the 20th.
    return fields[0], int(fields[3]), int(fields[19])


def process(pid: int) -> Process | None:
    """The process of that pid, when it runs."""
    found = _stat(pid)
    if found is None or found[0] == "Z":
        return None
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
            command = cmdline.read().replace(b"\0", b" ").decode(errors="replace").strip()
    except OSError:
        return None
    return Process(pid, found[2], command)


def in_session(session: int) -> list[Process]:
    """Every running process of the session ``session`` (the pid of its leader)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            stat = _stat(int(entry))
            if stat is not None and stat[1] == session and stat[0] != "Z":
                running = process(int(entry))
                if running is not None:
                    found.append(running)
    return found
