"""The violation history's chain: appending, the diff, bounding and verification."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from souverain.history.chain import (
    MAX_RECORDS,
    History,
    Violation,
    append,
    bounded,
    digest,
    parse_line,
)
from souverain.history.record import anchor, everything, observe
from souverain.history.verify import verify

T0 = datetime(2026, 11, 1, tzinfo=UTC)
POD = Violation("PodOnUnqualifiedNode", "Pod/web", "runs on node n1, which does not qualify")
EGRESS = Violation("EgressOutsideProfile", "SovereignNamespace/acme", "refused")


def observed(
    history: History, current: list[Violation], minutes: int, *, first: bool = False
) -> History:
    new, problem = observe(
        history,
        anchor(history, "x/y") if history.count else None,
        current,
        everything,
        T0 + timedelta(minutes=minutes),
        "replica-a",
        first_in_term=first,
    )
    assert problem is None
    return new


def events(history: History) -> list[tuple[str, str | None]]:
    return [(r["event"], r.get("object")) for r in history.records()]


def sample() -> History:
    history = observed(History(), [], 0, first=True)
    history = observed(history, [POD], 1)
    history = observed(history, [POD, EGRESS], 2)
    return observed(history, [EGRESS], 3)


def test_start_and_end_are_appended_against_the_open_violations() -> None:
    history = sample()
    assert events(history) == [
        ("genesis", None),
        ("start", "Pod/web"),
        ("start", "SovereignNamespace/acme"),
        ("end", "Pod/web"),
    ]
    assert list(history.open()) == [EGRESS.key]
    assert [r["seq"] for r in history.records()] == [0, 1, 2, 3]
    assert verify(history, anchor(history, "x/y")).intact


def test_an_observation_that_changes_nothing_appends_nothing() -> None:
    history = sample()
    message_changed = Violation(EGRESS.kind, EGRESS.object, "another message")
    assert observed(history, [message_changed], 4) is history


def test_a_new_observer_says_so_and_violations_outside_its_scope_stay_open() -> None:
    history = sample()
    pods_only, _ = observe(
        history,
        anchor(history, "x/y"),
        [],
        lambda kind, _: kind == POD.kind,
        T0 + timedelta(hours=1),
        "replica-b",
        first_in_term=True,
    )
    assert events(pods_only)[-1] == ("observer", None)
    assert list(pods_only.open()) == [EGRESS.key]


def test_a_quiet_observer_adds_a_checkpoint_every_few_hours() -> None:
    history = sample()
    assert observed(history, [EGRESS], 60) is history
    later = observed(history, [EGRESS], 7 * 60)
    assert events(later)[-1] == ("checkpoint", None)


def test_bounding_keeps_the_base_so_that_the_chain_still_verifies() -> None:
    history = sample()
    for minute in range(4, 40):
        history = observed(history, [POD, EGRESS] if minute % 2 else [EGRESS], minute)
    cut = bounded(history, limit=10)
    assert len(cut.lines) == 10
    assert cut.base.dropped == history.count - 10
    assert cut.base.hash == line_hash_of(history, history.count - 11)
    assert cut.open() == history.open()
    assert verify(cut, anchor(cut, "x/y")).intact
    changed = History(
        cut.base.__class__(cut.base.hash, cut.base.dropped - 1, cut.base.open), cut.lines
    )
    assert not verify(changed, anchor(cut, "x/y")).intact


def line_hash_of(history: History, seq: int) -> str:
    return str(history.records()[seq]["hash"])


def tampered(history: History, index: int, **fields: object) -> History:
    record = parse_line(history.lines[index]) or {}
    record.update(fields)
    lines = list(history.lines)
    lines[index] = json.dumps(record)
    return History(history.base, tuple(lines))


def test_verification_names_the_first_broken_record() -> None:
    history = sample()
    head = anchor(history, "x/y")
    edited = tampered(history, 1, message="nothing to see")
    assert verify(edited, head).seq == 1
    assert "edited" in str(verify(edited, head).problem)
    rehashed = tampered(history, 1, message="nothing to see")
    record = parse_line(rehashed.lines[1]) or {}
    rehashed = tampered(rehashed, 1, hash=digest(record))
    assert verify(rehashed, head).seq == 2
    assert "link" in str(verify(rehashed, head).problem)
    deleted = History(history.base, history.lines[:1] + history.lines[2:])
    assert "missing" in str(verify(deleted, head).problem)
    reordered = History(
        history.base, (history.lines[0], history.lines[2], history.lines[1], history.lines[3])
    )
    assert verify(reordered, head).seq == 1
    truncated = History(history.base, history.lines[:-1])
    assert "missing" in str(verify(truncated, head).problem)
    garbled = History(history.base, (*history.lines[:2], "{not json", *history.lines[3:]))
    assert "not a JSON record" in str(verify(garbled, head).problem)
    assert "anchors no history" in str(verify(history, None).problem)
    assert verify(history, None, anchored=False).intact


def test_the_operator_notes_a_broken_chain_once_and_keeps_what_it_found() -> None:
    history = sample()
    head = anchor(history, "x/y")
    edited = tampered(history, 1, message="nothing to see")
    noted, problem = observe(
        edited, head, [EGRESS], everything, T0 + timedelta(hours=1), "b", first_in_term=False
    )
    assert problem is not None
    assert "record 1 was edited" in problem
    assert noted.lines[:4] == edited.lines
    assert events(noted)[-1] == ("broken", None)
    again, problem = observe(
        noted,
        anchor(noted, "x/y"),
        [],
        everything,
        T0 + timedelta(hours=2),
        "b",
        first_in_term=False,
    )
    assert problem is None
    assert events(again)[-1] == ("end", EGRESS.object)
    verdict = verify(again, anchor(again, "x/y"))
    assert not verdict.intact
    assert verdict.seq == 1


def test_a_lost_history_starts_again_with_a_record_of_the_loss() -> None:
    head = anchor(sample(), "x/y")
    new, problem = observe(History(), head, [], everything, T0, "b", first_in_term=True)
    assert problem is not None
    assert "records 0 to 3 are missing" in problem
    assert events(new) == [("broken", None), ("genesis", None)]
    assert not verify(new, anchor(new, "x/y")).intact


def test_a_released_history_needs_no_anchor() -> None:
    history = sample()
    released, _ = observe(
        history,
        anchor(history, "x/y"),
        [],
        everything,
        T0 + timedelta(hours=1),
        "a",
        first_in_term=False,
        released=True,
    )
    assert events(released)[-2:] == [("end", EGRESS.object), ("released", None)]
    assert verify(released, None).intact


def test_records_stay_small() -> None:
    history = append(
        History(), T0, "start", kind="NonResidentVolume", object="x" * 500, message="y" * 5000
    )
    largest = len(history.lines[0].encode())
    # The longest record, MAX_RECORDS times, with the base: still under a ConfigMap's 1 MiB.
    assert largest * MAX_RECORDS + 64 * 1024 < 1024 * 1024


def test_a_garbled_config_map_is_kept_and_noted() -> None:
    garbled = History.from_data({"records.jsonl": "garbage\n[1, 2]\n", "base.json": "{bad"})
    assert garbled.base_garbled
    assert "base" in str(verify(garbled, None).problem)
    noted, problem = observe(garbled, None, [], everything, T0, "a", first_in_term=True)
    assert problem is not None
    assert noted.lines[:2] == ("garbage", "[1, 2]")
    assert [r["event"] for r in noted.records()] == ["broken", "observer"]
    again, problem = observe(
        noted,
        anchor(noted, "x/y"),
        [],
        everything,
        T0 + timedelta(hours=7),
        "a",
        first_in_term=False,
    )
    assert problem is None
    assert [r["event"] for r in again.records()][-1] == "checkpoint"
