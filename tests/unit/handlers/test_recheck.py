"""The periodic pass: each SovereignNamespace once per period, in turn, on the active
replica only."""

from __future__ import annotations

import threading

from souverain.handlers.recheck import sweep


def test_each_name_is_handled_once_per_period_in_turn_and_read_again() -> None:
    stop, active = threading.Event(), threading.Event()
    active.set()
    handled: list[str] = []
    listings = [["a", "b", "c"], ["a", "c", "d"]]

    def names() -> list[str]:
        return listings.pop(0) if listings else []

    def handle(name: str) -> None:
        handled.append(name)
        if len(handled) == 6:
            stop.set()

    sweep(names, handle, stop, active, period=0.03)
    assert handled == ["a", "b", "c", "a", "c", "d"]


def test_a_standby_handles_nothing() -> None:
    stop, active = threading.Event(), threading.Event()
    handled: list[str] = []
    listed = threading.Event()

    def names() -> list[str]:
        listed.set()
        return ["a"]

    worker = threading.Thread(
        target=sweep, args=(names, handled.append, stop, active), kwargs={"period": 0.01}
    )
    worker.start()
    stop.wait(0.2)
    stop.set()
    worker.join(timeout=5)
    assert not worker.is_alive()
    assert handled == []
    assert not listed.is_set(), "a standby does not even read the names"
