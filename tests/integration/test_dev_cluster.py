"""The local control plane's own behaviour: clear errors, clean shutdown."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from souverain.devcluster import cluster as cluster_module
from souverain.devcluster.binaries import bin_dir
from souverain.devcluster.cluster import DevCluster, DevClusterError
from souverain.devcluster.state import pid_alive


def test_port_clash_is_reported_in_one_clear_message(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        monkeypatch.setattr(cluster_module, "free_port", lambda: port)
        dev = DevCluster(tmp_path / "clash")
        with pytest.raises(DevClusterError) as clash:
            dev.up(timeout=30)
    assert "already in use" in str(clash.value)
    assert "etcd" in str(clash.value)
    state = dev.state()
    assert state is not None
    assert not any(pid_alive(p.pid) for p in state.processes)


def test_a_second_up_in_the_same_folder_is_refused(tmp_path: Path) -> None:
    dev = DevCluster(tmp_path / "twice")
    dev.up()
    try:
        with pytest.raises(DevClusterError, match="already runs"):
            DevCluster(tmp_path / "twice").up()
    finally:
        stopped = dev.down()
    assert stopped == [
        "kwok",
        "kube-controller-manager",
        "kube-scheduler",
        "kube-apiserver",
        "etcd",
    ]
    assert not (tmp_path / "twice").exists()


def test_real_nodes_a_machine_cannot_run_are_refused_in_one_line_and_kwok_still_runs(
    tmp_path: Path,
) -> None:
    # A PATH without containerd, crun, ctr or iptables: as on a machine without them.
    bare = tmp_path / "bin"
    bare.mkdir()
    for tool in ("sh", "env", "python3"):
        found = shutil.which(tool)
        assert found
        (bare / tool).symlink_to(found)
    env = {**os.environ, "PATH": f"{bare}:{bin_dir()}"}
    command = [sys.executable, "-m", "souverain", "dev-cluster", "--state-dir", str(tmp_path / "c")]
    refused = subprocess.run(
        [*command, "up", "--real-nodes", "1"], capture_output=True, text=True, env=env, check=False
    )
    assert refused.returncode == 1
    [line] = refused.stderr.splitlines()
    assert line.startswith("souverain: ")
    assert "containerd" in line
    assert "Traceback" not in refused.stderr
    assert not (tmp_path / "c" / "state.json").exists(), "nothing should have started"
    started = subprocess.run([*command, "up"], capture_output=True, text=True, env=env, check=False)
    try:
        assert started.returncode == 0, started.stderr
    finally:
        subprocess.run([*command, "down"], capture_output=True, env=env, check=False)
