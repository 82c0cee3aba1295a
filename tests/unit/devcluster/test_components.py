"""What ``dev-cluster stop|start|restart|pause|resume`` accept and where they look for
health; their behaviour on a running control plane is tested in the integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest

from souverain.cli import main
from souverain.devcluster.command import COMPONENT_NAMES
from souverain.devcluster.components import COMPONENTS, health_url
from souverain.devcluster.state import State, pid_alive, pid_paused


def test_the_command_line_names_every_component_and_only_them() -> None:
    assert COMPONENT_NAMES == COMPONENTS


def test_each_component_is_asked_for_its_health_on_its_own_port() -> None:
    state = State(
        kubeconfig="k",
        apiserver_url="https://127.0.0.1:6443",
        ports={"etcd": 1, "apiserver": 6443, "scheduler": 3, "controller-manager": 4, "kwok": 5},
    )
    assert [health_url(name, state) for name in COMPONENTS] == [
        "http://127.0.0.1:1/health",
        "https://127.0.0.1:6443/readyz",
        "https://127.0.0.1:3/healthz",
        "https://127.0.0.1:4/healthz",
        "http://127.0.0.1:5/healthz",
    ]


def test_a_stopped_component_has_no_process() -> None:
    assert not pid_alive(0)
    assert not pid_paused(0)


def test_an_action_on_one_component_without_its_name_is_a_usage_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dev-cluster", "restart", "--state-dir", str(tmp_path)]) == 2
    assert capsys.readouterr().err == (
        "souverain: dev-cluster restart needs a component: "
        "etcd, kube-apiserver, kube-scheduler, kube-controller-manager, kwok\n"
    )


def test_an_action_without_a_running_control_plane_says_how_to_start_one(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["dev-cluster", "stop", "etcd", "--state-dir", str(tmp_path)]) == 1
    assert capsys.readouterr().err == (
        f"souverain: no local control plane runs from {tmp_path}; "
        "start one with 'souverain dev-cluster up'\n"
    )
