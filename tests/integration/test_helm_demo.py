"""`make run` (tools/run.sh), the demo that goes with the chart: on its own control plane
it shows a tenant Ready, its pods on sovereign nodes and its egress floor, then follows
the operator's log until Ctrl-C stops everything; with KUBECONFIG set it only runs the
operator."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import time
import urllib.request
from pathlib import Path
from typing import IO

from souverain.devcluster.binaries import bin_dir
from souverain.devcluster.cluster import DevCluster, free_port
from tests.support.cluster import Cluster
from tests.support.processes import as_a_terminal_job
from tests.support.repository import REPO

RUN = REPO / "tools" / "run.sh"
FOLLOWING = "following the operator's log"


def _start(env: dict[str, str], log: Path) -> tuple[subprocess.Popen[bytes], IO[bytes]]:
    out = open(log, "wb")  # noqa: SIM115
    process = subprocess.Popen(
        [str(RUN)],
        stdout=out,
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
        preexec_fn=as_a_terminal_job,
    )
    return process, out


def _wait_for_text(process: subprocess.Popen[bytes], log: Path, text: str) -> str:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        seen = log.read_text(errors="replace")
        if text in seen:
            return seen
        assert process.poll() is None, f"tools/run.sh ended early:\n{seen}"
        time.sleep(0.5)
    raise AssertionError(f"tools/run.sh never printed {text!r}:\n{log.read_text()}")


def _ctrl_c(process: subprocess.Popen[bytes]) -> None:
    """What the terminal does on Ctrl-C: SIGINT to the whole foreground process group."""
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=120)


def _serves(address: str) -> bool:
    try:
        with urllib.request.urlopen(f"http://{address}/healthz", timeout=2) as response:
            return bool(response.status == 200)
    except OSError:
        return False


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("KUBECONFIG", "SOUVERAIN_"))}
    env["PATH"] = f"{bin_dir()}:{env.get('PATH', '')}"
    env["SOUVERAIN_LIVENESS"] = f"127.0.0.1:{free_port()}"
    env["SOUVERAIN_METRICS_ADDRESS"] = f"127.0.0.1:{free_port()}"
    env["SOUVERAIN_WEBHOOK_LISTEN"] = f"127.0.0.1:{free_port()}"
    env["SOUVERAIN_DEV_CLUSTER"] = str(tmp_path / "dev-cluster")
    return env


def test_make_run_shows_the_tenant_then_stops_everything_on_ctrl_c(tmp_path: Path) -> None:
    env = _env(tmp_path)
    process, out = _start(env, tmp_path / "run.log")
    try:
        seen = _wait_for_text(process, tmp_path / "run.log", FOLLOWING)
        assert _serves(env["SOUVERAIN_LIVENESS"])
    finally:
        _ctrl_c(process)
        out.close()
    summary = seen.split("== Sovereign namespaces", 1)[1]
    assert re.search(r"^acme-payments\s+french-sovereign\s+True\b", summary, re.MULTILINE)
    pods = re.findall(r"^(web-\S+)\s+(\S+)\s+Running$", summary, re.MULTILINE)
    assert len(pods) == 3
    assert {node for _, node in pods} <= {"sov-fr-1", "sov-fr-2", "sov-fr-3"}
    for policy in (
        "souverain-deny-egress",
        "souverain-allow-dns",
        "souverain-allow-same-namespace",
        "souverain-allow-profile-egress",
        "souverain-allow-namespace-egress",
    ):
        assert policy in summary
    assert "ledger-data" in summary

    # Ctrl-C stopped the operator and the control plane.
    assert process.returncode is not None
    assert not _serves(env["SOUVERAIN_LIVENESS"])
    status = DevCluster(Path(env["SOUVERAIN_DEV_CLUSTER"])).state()
    assert status is None or not any(
        Path(f"/proc/{child.pid}").exists() for child in status.processes
    )
    assert "stopping the operator and the local control plane" in (tmp_path / "run.log").read_text()


def test_with_kubeconfig_it_only_runs_the_operator(
    cluster: Cluster, souverain_crds: None, tmp_path: Path
) -> None:
    before = cluster.kubectl("get", "sovereignnamespaces,storageclasses", "-o", "name").stdout
    env = _env(tmp_path)
    env["KUBECONFIG"] = str(cluster.kubeconfig)
    process, out = _start(env, tmp_path / "run.log")
    try:
        _wait_for_text(process, tmp_path / "run.log", "running the operator against")
        deadline = time.monotonic() + 60
        while not _serves(env["SOUVERAIN_LIVENESS"]) and time.monotonic() < deadline:
            assert process.poll() is None, (tmp_path / "run.log").read_text()
            time.sleep(0.5)
        assert _serves(env["SOUVERAIN_LIVENESS"])
    finally:
        _ctrl_c(process)
        out.close()
    after = cluster.kubectl("get", "sovereignnamespaces,storageclasses", "-o", "name").stdout
    assert after == before, "nothing applied to a cluster the user named"
    assert not Path(env["SOUVERAIN_DEV_CLUSTER"]).exists(), "no local control plane"
