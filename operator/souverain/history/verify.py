"""Checking a namespace's chain: each record's hash, the links, the sequence, the base
and the anchor the operator keeps in the SovereignNamespace's status."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from souverain.history.chain import History, digest, parse_line


@dataclass(frozen=True)
class Verdict:
    """What verification found: the first problem and the record it is at, if any."""

    records: int
    problem: str | None = None
    seq: int | None = None

    @property
    def intact(self) -> bool:
        return self.problem is None


def anchor_of(status: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """``status.history`` of a SovereignNamespace, when it holds an anchor."""
    found = (status or {}).get("history")
    if not isinstance(found, Mapping) or not isinstance(found.get("records"), int):
        return None
    return dict(found)


def _last_noted(history: History) -> int:
    """Index of the last ``broken`` record whose own hash holds, or -1."""
    for index in range(len(history.lines) - 1, -1, -1):
        record = parse_line(history.lines[index])
        if record and record.get("event") == "broken" and record.get("hash") == digest(record):
            return index
    return -1


def verify(
    history: History,
    anchor: Mapping[str, Any] | None,
    *,
    anchored: bool = True,
    since_noted: bool = False,
) -> Verdict:
    """The first thing wrong with ``history``, or an intact verdict.

    ``anchored``: the SovereignNamespace exists, so its status must anchor the head.
    ``since_noted``: the operator's own check before it appends: what a ``broken``
    record already notes is not found again, and an anchor that lags (its status write
    failed after the records were written) is no tampering as long as it points into
    the chain.
    """
    count, lines = history.count, history.lines
    start, prev, seq = 0, history.base.hash, history.base.dropped
    if since_noted:
        noted = _last_noted(history)
        if noted >= 0:
            noted_record = parse_line(lines[noted]) or {}
            found_seq = noted_record.get("seq")
            start, prev = noted + 1, str(noted_record["hash"])
            seq = (found_seq if isinstance(found_seq, int) else history.base.dropped + noted) + 1
    elif history.base_garbled:
        return Verdict(count, "the base (base.json) cannot be read", history.base.dropped)
    hashes: dict[int, str] = {}
    for line in lines[start:]:
        record = parse_line(line)
        if record is None:
            return Verdict(count, f"record {seq} is not a JSON record", seq)
        if record.get("hash") != digest(record):
            return Verdict(count, f"record {seq} was edited: its hash does not match it", seq)
        if record.get("seq") != seq:
            found = record.get("seq")
            what = "missing" if isinstance(found, int) and found > seq else "out of order"
            return Verdict(count, f"record {seq} is {what}: the next record is {found}", seq)
        if record.get("prev") != prev:
            return Verdict(count, f"record {seq} does not link to the record before it", seq)
        if record.get("event") == "broken" and not since_noted:
            return Verdict(
                count,
                f"the operator found the chain broken at {record.get('at')}: "
                f"{record.get('message')}",
                seq,
            )
        hashes[seq] = prev = str(record["hash"])
        seq += 1
    return _anchor_problem(history, anchor, hashes, anchored=anchored, lagging=since_noted)


def _anchor_problem(
    history: History,
    anchor: Mapping[str, Any] | None,
    hashes: Mapping[int, str],
    *,
    anchored: bool,
    lagging: bool,
) -> Verdict:
    count = history.count
    if not anchored:
        return Verdict(count)
    if anchor is None:
        last = parse_line(history.lines[-1]) if history.lines else None
        if count == 0 or (last or {}).get("event") == "released":
            return Verdict(count)
        return Verdict(count, "the SovereignNamespace's status anchors no history", count - 1)
    records = int(anchor["records"])
    if records > count:
        return Verdict(
            count,
            f"records {count} to {records - 1} are missing: the anchor counts {records}",
            count,
        )
    if records < count and not lagging:
        return Verdict(
            count, f"records {records} to {count - 1} are past the anchor ({records})", records
        )
    at = records - 1
    if at >= history.base.dropped and at in hashes and hashes[at] != anchor.get("head"):
        return Verdict(count, f"record {at} is not the one the anchor names", at)
    if records == count and anchor.get("base") not in (None, history.base.digest):
        return Verdict(count, "the base was changed since it was anchored", history.base.dropped)
    return Verdict(count)
