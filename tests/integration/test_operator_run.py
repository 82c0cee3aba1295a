"""The operator starts and stops cleanly against the cluster."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path
from typing import Any

from souverain.devcluster.cluster import free_port
from tests.support.cluster import Cluster, wait_for


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _ready(port: int) -> dict[str, Any] | None:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as response:
            found: dict[str, Any] = json.loads(response.read())
            return found
    except OSError:  # 503 until every informer has listed, or not listening yet
        return None


def test_without_a_lease_souverain_run_is_ready_and_acts_alone(
    cluster: Cluster, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "operator.log"
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    with open(log, "wb") as output:
        operator = subprocess.Popen(
            [sys.executable, "-m", "souverain", "run", f"--liveness=127.0.0.1:{port}"],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        state = wait_for(
            lambda: (found := _ready(port)) and found["active"] and found,
            "souverain run to be ready and active",
            timeout=60,
        )
    finally:
        operator.send_signal(signal.SIGTERM)
        code = operator.wait(timeout=60)
    assert state["synced"] is True
    assert state["identity"].endswith(f"_{operator.pid}")
    assert code == 0, log.read_text()
    assert "no Lease: acting alone" in log.read_text()


def test_souverain_run_serves_liveness_and_exits_on_sigterm(
    cluster: Cluster, tmp_path: Path
) -> None:
    port = free_port()
    log = tmp_path / "operator.log"
    env = {**os.environ, "KUBECONFIG": str(cluster.kubeconfig)}
    with open(log, "wb") as output:
        operator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "souverain",
                "run",
                "--log-format=json",
                f"--liveness=127.0.0.1:{port}",
            ],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=env,
        )
    try:
        wait_for(lambda: _healthy(port), "the liveness endpoint of souverain run", timeout=60)
    finally:
        operator.send_signal(signal.SIGTERM)
        code = operator.wait(timeout=60)
    text = log.read_text()
    assert code == 0, text
    assert "Traceback" not in text
    # JSON log lines: every non-empty line is a JSON object.
    lines = [line for line in text.splitlines() if line.strip()]
    assert lines, "souverain run logged nothing"
    assert all(line.lstrip().startswith("{") for line in lines), text
