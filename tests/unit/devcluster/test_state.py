"""Ports handed out by ``free_port`` stay out of other answers for a while, in this
process and in others, so that a component is not told a port another was told."""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest

from souverain.devcluster import state


@pytest.fixture
def drawn(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> list[int]:
    """Reservations under ``tmp_path``, and the ports ``random`` draws, in order."""
    monkeypatch.setattr(state, "PORT_RESERVATIONS", tmp_path / "ports")
    draws: list[int] = []
    monkeypatch.setattr(random, "randint", lambda low, high: draws.pop(0))
    return draws


def _two_free_ports() -> tuple[int, int]:
    first = state.free_port()
    return first, state.free_port()


def test_a_port_handed_out_is_not_handed_out_again(drawn: list[int]) -> None:
    base = state._ephemeral_floor() - 5000
    drawn.extend([base, base, base + 1])
    assert _two_free_ports() == (base, base + 1)


def test_a_reservation_made_by_another_process_is_honoured(
    drawn: list[int], tmp_path: Path
) -> None:
    base = state._ephemeral_floor() - 5001
    (tmp_path / "ports").mkdir()
    (tmp_path / "ports" / str(base)).touch()
    drawn.extend([base, base + 2])
    assert state.free_port() == base + 2


def test_an_old_reservation_is_taken_again(drawn: list[int], tmp_path: Path) -> None:
    base = state._ephemeral_floor() - 5003
    (tmp_path / "ports").mkdir()
    old = tmp_path / "ports" / str(base)
    old.touch()
    then = time.time() - state.RESERVED_SECONDS - 1
    os.utime(old, (then, then))
    drawn.append(base)
    assert state.free_port() == base
    assert time.time() - old.stat().st_mtime < state.RESERVED_SECONDS


def test_without_a_place_for_reservations_every_free_port_counts(
    drawn: list[int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder")
    monkeypatch.setattr(state, "PORT_RESERVATIONS", blocked / "ports")
    base = state._ephemeral_floor() - 5004
    drawn.extend([base, base])
    assert _two_free_ports() == (base, base)
