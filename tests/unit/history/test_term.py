"""What a replica keeps of the histories it wrote: the last ConfigMap of each namespace,
within a byte budget, least recently written dropped first."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from souverain.history.chain import History, append
from souverain.history.term import Term

pytestmark = pytest.mark.unit

T0 = datetime(2026, 11, 1, tzinfo=UTC)


def grown(records: int) -> History:
    history = History()
    for _ in range(records):
        history = append(history, T0, "checkpoint", observer="replica-a")
    return history


def test_what_was_written_last_is_kept_with_its_version() -> None:
    term = Term()
    first, second = grown(1), grown(2)
    term.store("acme", first, "10")
    term.store("acme", second, "11")
    kept = term.stored("acme")
    assert kept is not None
    assert (kept.history, kept.version) == (second, "11")


def test_a_write_without_a_version_and_a_forgotten_namespace_keep_nothing() -> None:
    term = Term()
    term.store("acme", grown(1), "10")
    term.store("acme", grown(2), None)
    assert term.stored("acme") is None
    term.store("acme", grown(1), "12")
    term.forget("acme")
    assert term.stored("acme") is None


def test_past_the_budget_the_least_recently_written_go_first() -> None:
    one = grown(3)
    size = sum(len(line) for line in one.lines) + 256
    term = Term(budget=size * 2)
    term.store("a", one, "1")
    term.store("b", one, "2")
    term.store("a", one, "3")  # written again: now the most recent
    term.store("c", one, "4")
    assert term.stored("b") is None
    assert term.stored("a") is not None
    assert term.stored("c") is not None


def test_one_larger_than_the_budget_is_not_kept() -> None:
    term = Term(budget=100)
    term.store("acme", grown(5), "1")
    assert term.stored("acme") is None


def test_the_anchor_last_written_is_remembered_with_what_was_seen() -> None:
    term = Term()
    assert term.anchor("acme") is None
    wanted = {"configMap": "x/y", "records": 1, "head": "h", "base": "b"}
    term.remember("acme", [], T0, wanted)
    assert term.anchor("acme") == wanted
