"""The chaos suite: each event production can bring, on a control plane of its own, with
the outcome that must hold after it (:mod:`tests.support.rehearsals`). Durations are
not asserted: ``make bench-chaos`` reports them."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import pytest

from tests.support import rehearsals
from tests.support.chaos import STEADY, WATCH_SECONDS, Rehearsal

pytestmark = pytest.mark.chaos


@pytest.fixture(scope="module")
def rehearsal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rehearsal]:
    made = Rehearsal(tmp_path_factory.mktemp("chaos"))
    try:
        yield made.start()
    finally:
        made.close()


def test_after_an_api_server_restart_watches_resume_and_changes_converge(
    rehearsal: Rehearsal,
) -> None:
    rehearsals.rehearse_api_server_restart(rehearsal)


def test_after_an_etcd_restart_changes_converge_and_no_status_is_lost(
    rehearsal: Rehearsal,
) -> None:
    rehearsals.rehearse_etcd_restart(rehearsal)


def test_an_operator_killed_mid_reconcile_makes_one_of_each_child_after_restart(
    rehearsal: Rehearsal,
) -> None:
    rehearsals.rehearse_operator_killed_mid_reconcile(rehearsal)


def test_an_operator_killed_mid_deletion_leaves_no_finalizer_stuck(
    rehearsal: Rehearsal,
) -> None:
    rehearsals.rehearse_operator_killed_mid_deletion(rehearsal)


def test_with_the_operator_down_an_api_server_restart_blocks_no_one_and_opens_nothing(
    rehearsal: Rehearsal,
) -> None:
    rehearsals.rehearse_operator_down_during_api_server_restart(rehearsal)


def test_deleted_webhook_configurations_come_back_and_the_native_layer_holds_meanwhile(
    rehearsal: Rehearsal,
) -> None:
    rehearsals.rehearse_webhook_configurations_deleted(rehearsal)


def test_a_profile_deleted_while_in_use_unpins_nothing_and_says_why(
    rehearsal: Rehearsal,
) -> None:
    rehearsals.rehearse_profile_deleted_while_in_use(rehearsal)


def test_a_silent_api_server_trips_the_operators_timeouts_in_one_line_each(
    rehearsal: Rehearsal,
) -> None:
    rehearsals.rehearse_silent_api_server(rehearsal, WATCH_SECONDS)


def test_dev_cluster_commands_act_on_one_component_from_another_process(
    rehearsal: Rehearsal,
) -> None:
    state_dir = str(rehearsal.dev.state_dir)

    def souverain(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "souverain", "dev-cluster", *args, "--state-dir", state_dir],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def status() -> dict[str, Any]:
        found: dict[str, Any] = json.loads(souverain("status").stdout)
        return found

    assert souverain("stop", "kube-scheduler").stdout == "stopped kube-scheduler\n"
    assert status()["components"]["kube-scheduler"] is False
    assert souverain("stop", "kube-scheduler").stdout == "kube-scheduler was not running\n"
    assert souverain("start", "kube-scheduler").stdout == "started kube-scheduler\n"
    assert status()["components"]["kube-scheduler"] is True
    assert souverain("pause", "kwok").returncode == 0
    assert status()["paused"] == ["kwok"]
    assert souverain("resume", "kwok").returncode == 0
    assert status()["running"] is True
    unknown = souverain("restart", "kubelet")
    assert unknown.returncode == 2
    assert "invalid choice: 'kubelet'" in unknown.stderr
    rehearsal.tenancy.run_pod(STEADY, "after-scheduler-restart")  # it schedules again
