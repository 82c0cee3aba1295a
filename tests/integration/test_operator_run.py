"""The operator starts and stops cleanly against the cluster."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import urllib.request
from pathlib import Path

from kopf.testing import KopfRunner

from souverain.devcluster.cluster import free_port
from tests.support.cluster import Cluster, wait_for


def _healthy(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def test_kopf_runner_starts_and_stops_the_handlers(cluster: Cluster) -> None:
    port = free_port()
    args = [
        "run",
        "--all-namespaces",
        "--standalone",
        "-m",
        "souverain.handlers",
        f"--liveness=http://127.0.0.1:{port}/healthz",
    ]
    with KopfRunner(args, timeout=60) as runner:
        wait_for(lambda: _healthy(port), "the liveness endpoint", timeout=60)
    assert runner.exception is None
    assert runner.exit_code == 0
    assert "Traceback" not in runner.output


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
