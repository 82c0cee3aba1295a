"""``make run`` tried as a new user would: ``tools/run.sh`` (what ``make run`` runs) starts
a local control plane and the operator, applies the examples, prints where everything
landed and follows the operator's log; Ctrl-C then stops every process it started, with
its output on a pipe (``make run | tee log``, where Ctrl-C ends ``tee`` too) or not."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

from souverain.devcluster.binaries import bin_dir
from souverain.devcluster.cluster import free_port
from tests.support.processes import Process, as_a_terminal_job, in_session, process
from tests.support.repository import REPO

FOLLOWING = "souverain: following the operator's log"
"""The line after the summary: the operator is up and the examples are in place."""
STARTED_WITHIN = 300.0
STOPPED_WITHIN = 60.0
"""Generous deadlines: how long it takes is measured, not tested."""
SOUVERAIN = REPO / ".venv" / "bin" / "souverain"
"""The command tools/run.sh runs."""
COMPONENTS = ("etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager", "kwok")


@dataclass
class Interrupted:
    """One ``make run`` interrupted by Ctrl-C once it followed the operator's log."""

    output: str
    """What the person saw on standard output (a copy, when it went through ``tee``)."""
    operator_log: str
    started: list[Process]
    """Every process it started that ran when Ctrl-C came."""
    left: list[Process]
    """Those still running, or started since, when the deadline passed."""
    seconds: float
    """From Ctrl-C until the last of them ended."""


def run_and_interrupt(work: Path, piped: bool) -> Interrupted:
    state = work / "dev-cluster"
    output = work / "output"
    env = {
        **{k: v for k, v in os.environ.items() if k != "KUBECONFIG"},
        "PATH": f"{bin_dir()}:{os.environ.get('PATH', '')}",
        "SOUVERAIN_DEV_CLUSTER": str(state),
        "SOUVERAIN_LIVENESS": f"127.0.0.1:{free_port()}",
        "SOUVERAIN_METRICS_ADDRESS": f"127.0.0.1:{free_port()}",
        "SOUVERAIN_WEBHOOK_LISTEN": f"127.0.0.1:{free_port()}",
    }
    command = f'tools/run.sh | tee "{output}" >/dev/null' if piped else f'tools/run.sh >"{output}"'
    with open(work / "stderr", "wb") as stderr:
        # In a session of its own, as a terminal's job: Ctrl-C signals its whole group.
        leader = subprocess.Popen(
            ["bash", "-c", command],
            cwd=REPO,
            env=env,
            stdin=subprocess.DEVNULL,
            stderr=stderr,
            start_new_session=True,
            preexec_fn=as_a_terminal_job,
        )
    seen: dict[int, Process] = {}
    deadline = time.monotonic() + STARTED_WITHIN
    try:
        while FOLLOWING not in (output.read_text() if output.exists() else ""):
            seen.update((p.pid, p) for p in in_session(leader.pid))
            assert leader.poll() is None, f"make run ended: {(work / 'stderr').read_text()}"
            assert time.monotonic() < deadline, "make run did not follow the operator's log"
            time.sleep(0.2)
        seen.update((p.pid, p) for p in in_session(leader.pid))
        records = json.loads((state / "state.json").read_text())["processes"]
        for record in records:
            found = process(record["pid"])
            if found is not None:
                seen[found.pid] = found
        started = [p for p in seen.values() if p.alive()]

        if piped:
            # Ctrl-C signals the whole group at once; the clean-up has to hold also when
            # tee is gone before the script writes its next line, to a closed pipe.
            [tee] = [p for p in in_session(leader.pid) if p.command.startswith("tee ")]
            os.kill(tee.pid, signal.SIGINT)
            while tee.alive():
                time.sleep(0.01)
        os.killpg(leader.pid, signal.SIGINT)
        interrupted = time.monotonic()
        deadline = interrupted + STOPPED_WITHIN
        while time.monotonic() < deadline:
            left = [p for p in started if p.alive()] + in_session(leader.pid)
            if not left:
                break
            time.sleep(0.05)
        seconds = time.monotonic() - interrupted
        left = list({p.pid: p for p in left}.values())
    finally:
        _clean_up(leader, state, seen.values())
    return Interrupted(
        output=output.read_text(),
        operator_log=Path(f"{state}.operator.log").read_text(),
        started=started,
        left=left,
        seconds=seconds,
    )


def _clean_up(leader: subprocess.Popen[bytes], state: Path, seen: Iterable[Process]) -> None:
    """Whatever a failed run left: its session and the processes seen, then its control
    plane."""
    for found in [*in_session(leader.pid), *seen]:
        if found.alive():
            os.kill(found.pid, signal.SIGKILL)
    leader.wait(timeout=30)
    if state.exists():
        down = [str(SOUVERAIN), "dev-cluster", "down", "--state-dir", str(state)]
        subprocess.run(down, check=False, capture_output=True, timeout=120)


@pytest.fixture(scope="module", params=["piped", "not piped"])
def interrupted(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Interrupted:
    if not SOUVERAIN.exists():
        pytest.skip("tools/run.sh runs .venv/bin/souverain, which 'make setup' creates")
    piped = request.param == "piped"
    found = run_and_interrupt(tmp_path_factory.mktemp("make-run"), piped)
    print(
        f"make run ({request.param}): "
        + (f"{len(found.left)} still ran" if found.left else "every process had ended")
        + f" {found.seconds:.1f} s after Ctrl-C"
    )
    return found


def test_ctrl_c_stops_every_process_make_run_started(interrupted: Interrupted) -> None:
    commands = [p.command for p in interrupted.started]
    for component in COMPONENTS:
        assert any(f"/{component} " in c for c in commands), f"{component} was not running"
    assert any(" run --liveness" in c for c in commands), "the operator was not running"
    assert interrupted.left == [], "still running after Ctrl-C:\n" + "\n".join(
        map(str, interrupted.left)
    )


def test_the_summary_shows_the_volume_bound_and_resident_on_a_french_node(
    interrupted: Interrupted,
) -> None:
    output = interrupted.output
    # NAME READY RESIDENT SIZE CAPACITY CLASS REGION ZONE VOLUME REASON AGE
    assert re.search(
        r"^ledger-data +True +True +20Gi +50Gi +sovereign-ssd +fr-paris +fr-paris-1 "
        r"+sov-fr-1-ssd-1 ",
        output,
        re.MULTILINE,
    ), output
    assert re.search(r"^ledger-\S+ +sov-fr-1 +Running$", output, re.MULTILINE), output


def test_the_operator_starts_without_retried_requests(interrupted: Interrupted) -> None:
    log = interrupted.operator_log
    assert "Active as " in log, log
    for retried in ("storage is (re)initializing", "Request attempt", "failed", "listing again"):
        assert retried not in log, log
