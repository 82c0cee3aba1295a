"""What ``up`` leaves behind in ``state.json`` for ``status`` and ``down``, which may run in
another process: the pid and log of each component, the ports and the kubeconfig."""

from __future__ import annotations

import json
import os
import random
import socket
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class ProcessRecord:
    """A started component: its pid and its log file."""

    name: str
    pid: int
    """The process id, or 0 while the component is stopped (``dev-cluster stop``)."""
    log: str
    argv: list[str] = field(default_factory=list)
    """The command line it was started with, so that ``dev-cluster start`` can start it
    again from another process."""


@dataclass
class State:
    """What ``up`` leaves behind for ``status`` and ``down``."""

    kubeconfig: str
    apiserver_url: str
    ports: dict[str, int]
    processes: list[ProcessRecord] = field(default_factory=list)
    started_at: float = 0.0
    real: dict[str, Any] = field(default_factory=dict)
    """The real nodes, when any: their names, what ``down`` restores on the machine."""

    @classmethod
    def load(cls, path: Path) -> State:
        data = json.loads(path.read_text())
        data["processes"] = [ProcessRecord(**p) for p in data["processes"]]
        return cls(**data)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=2))


def pid_paused(pid: int) -> bool:
    """Whether the process is stopped by SIGSTOP (``dev-cluster pause``)."""
    if pid < 1:
        return False
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] == "T"
    except OSError:
        return False


def pid_alive(pid: int) -> bool:
    """Whether a process with that pid exists and is not a zombie (never for a pid below
    1, which stands for no process: signal 0 to it would reach a whole process group)."""
    if pid < 1:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except OSError:
        return True


def _ephemeral_floor() -> int:
    """The lowest port the kernel gives outgoing connections (32768 unless set)."""
    try:
        return int(Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()[0])
    except (OSError, ValueError, IndexError):
        return 32768


PORT_RESERVATIONS = Path(tempfile.gettempdir()) / "souverain-ports"
"""One file per port handed out lately, so that two processes asking at once (a test
and the control plane it starts, two test runs) are not given the same port."""

RESERVED_SECONDS = 300
"""How long a port handed out stays out of other answers: ample for its component to
bind it, after which the bind itself keeps it."""


def _reserve(port: int) -> bool:
    """Takes the reservation of ``port`` unless another is recent; True when taken. Where
    no reservation can be written, every port counts as free."""
    path = PORT_RESERVATIONS / str(port)
    try:
        PORT_RESERVATIONS.mkdir(exist_ok=True)
        os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        return True
    except FileExistsError:
        try:
            if time.time() - path.stat().st_mtime < RESERVED_SECONDS:
                return False
            os.utime(path)  # an old reservation: its port was bound or left long ago
            return True
        except OSError:
            return False
    except OSError:
        return True


def free_port() -> int:
    """A TCP port free on loopback at the time of asking, below the ephemeral range, and
    not handed out to anyone in the last :data:`RESERVED_SECONDS`: a port the kernel
    picks (bind to 0) is one it may also give an outgoing connection before the
    component that was told it binds it ("address already in use")."""
    floor = _ephemeral_floor()
    for _ in range(200):
        port = random.randint(max(1024, floor - 12000), floor - 1)
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        if _reserve(port):
            return port
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        found: int = sock.getsockname()[1]
        return found


def tail_of(path: Path, lines: int = 5) -> str:
    """The last ``lines`` lines of a log, or nothing when it cannot be read."""
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return ""
