"""Handlers act only on the active replica: elsewhere kopf is told to try again, except
for start-up activities, which kopf would retry until they succeed, and never stop."""

from __future__ import annotations

from typing import Any

import kopf
import pytest

from souverain.handlers.lifecycle import active_only
from souverain.runtime.work import StandbyError


class Standby:
    """A context whose replica is not the active one."""

    def acting(self) -> Any:
        raise StandbyError


@active_only
def _handler(**_: Any) -> str:
    return "done"


def _memo() -> kopf.Memo:
    return kopf.Memo(context=Standby())


def test_a_handler_on_a_standby_is_tried_again_later() -> None:
    with pytest.raises(kopf.TemporaryError, match="no longer the active one"):
        _handler(memo=_memo())


def test_a_start_up_activity_on_a_standby_ends_without_a_retry() -> None:
    assert _handler(memo=_memo(), activity="startup") is None
