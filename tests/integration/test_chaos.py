"""The chaos suite: each event production can bring, on a control plane of its own, with
the outcome that must hold after it (:mod:`tests.support.rehearsals`). Durations are
not asserted: ``make bench-chaos`` reports them."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support import rehearsals
from tests.support.chaos import WATCH_SECONDS, Rehearsal

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
