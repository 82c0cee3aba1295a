"""Stopping the local control plane's processes one at a time, the last started first,
on small stand-ins that note when they are asked to stop and when they are done."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from souverain.devcluster.state import ProcessRecord, pid_alive
from souverain.devcluster.stopping import stop_in_order, stop_process

# Notes "<name> asked" on SIGTERM, takes a moment to shut down, then notes "<name> done".
STAND_IN = """
import signal, sys, time
name, notes, slow = sys.argv[1], sys.argv[2], float(sys.argv[3])
def stop(*_):
    with open(notes, "a") as f:
        f.write(name + " asked\\n")
    time.sleep(slow)
    with open(notes, "a") as f:
        f.write(name + " done\\n")
    sys.exit(0)
signal.signal(signal.SIGTERM, stop if slow >= 0 else signal.SIG_IGN)
open(notes + "." + name, "w").close()
while True:
    time.sleep(0.05)
"""


def start(name: str, notes: Path, slow: float) -> subprocess.Popen[bytes]:
    child = subprocess.Popen(
        [sys.executable, "-c", STAND_IN, name, str(notes), str(slow)], start_new_session=True
    )
    deadline = time.monotonic() + 10
    while not Path(f"{notes}.{name}").exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    return child


def test_each_process_ends_before_the_one_started_before_it_is_asked(tmp_path: Path) -> None:
    notes = tmp_path / "notes"
    first = start("etcd", notes, slow=0.0)
    second = start("kube-apiserver", notes, slow=0.3)
    records = [
        ProcessRecord(name="etcd", pid=first.pid, log=""),
        ProcessRecord(name="kube-apiserver", pid=second.pid, log=""),
    ]
    reaped = {first.pid: first, second.pid: second}

    stopped = stop_in_order(records, reap=lambda pid: reaped[pid].poll())

    assert stopped == ["kube-apiserver", "etcd"]
    assert notes.read_text().splitlines() == [
        "kube-apiserver asked",
        "kube-apiserver done",
        "etcd asked",
        "etcd done",
    ]
    assert not pid_alive(first.pid)
    assert not pid_alive(second.pid)


def test_a_process_that_ignores_sigterm_is_killed_after_the_timeout(tmp_path: Path) -> None:
    stubborn = start("stubborn", tmp_path / "notes", slow=-1)
    assert stop_process(stubborn.pid, timeout=0.5, reap=lambda _: stubborn.poll())
    assert stubborn.wait(timeout=10) == -9


def test_a_process_that_is_not_running_is_not_stopped() -> None:
    assert stop_in_order([ProcessRecord(name="etcd", pid=0, log="")]) == []
