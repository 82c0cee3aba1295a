"""A namespace's violation history over [since, now], for the report: pure.

Only time the history covers is claimed clean: from a ``genesis`` or ``observer``
record to the last record of that observer. Between that and the next observer nothing
was observed (the operator was stopped, or failing over), and the report says so.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from souverain.history.chain import History, Key, Violation, parse_time, record_violation
from souverain.history.verify import Verdict
from souverain.report.schema import HistoryInterval, NamespaceHistory, Stretch

TERM_STARTS = ("genesis", "observer")


def when(moment: datetime) -> str:
    """A date alone at midnight UTC, else the date and time."""
    if (moment.hour, moment.minute, moment.second) == (0, 0, 0):
        return moment.strftime("%Y-%m-%d")
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def coverage(history: History) -> list[tuple[datetime, datetime]]:
    """The stretches an observer watched, in time order."""
    covered: list[tuple[datetime, datetime]] = []
    start: datetime | None = None
    last: datetime | None = None
    for record in history.records():
        at = parse_time(record.get("at"))
        if at is None:
            continue
        event = record.get("event")
        if event in TERM_STARTS:
            if start is not None and last is not None:
                covered.append((start, last))
            start = at
        elif start is None:
            start = at
        last = at
        if event == "released":
            covered.append((start, at))
            start = None
    if start is not None and last is not None:
        covered.append((start, last))
    return covered


def intervals(history: History, now: datetime) -> list[HistoryInterval]:
    """Every violation the history recorded, open ones with no end."""
    records = history.records()
    first = next((t for r in records if (t := parse_time(r.get("at")))), now)
    opened: dict[Key, tuple[Violation, datetime, bool]] = {
        v.key: (v, first, True) for v in history.base.open
    }
    found: list[HistoryInterval] = []
    for record in records:
        violation, at = record_violation(record), parse_time(record.get("at"))
        if violation is None or at is None:
            continue
        if record.get("event") == "start":
            opened[violation.key] = (violation, at, False)
        elif record.get("event") == "end" and violation.key in opened:
            began, start, before = opened.pop(violation.key)
            found.append(_interval(began, start, at, before))
    found.extend(_interval(v, start, None, before) for v, start, before in opened.values())
    return sorted(found, key=lambda i: (i.start, i.kind, i.object))


def _interval(
    violation: Violation, start: datetime, end: datetime | None, before: bool
) -> HistoryInterval:
    return HistoryInterval(
        kind=violation.kind,
        object=violation.object,
        message=violation.message,
        start=start,
        end=end,
        started_before=before,
    )


def _minus(
    stretch: tuple[datetime, datetime], taken: Iterable[tuple[datetime, datetime]]
) -> list[tuple[datetime, datetime]]:
    """``stretch`` without the spans in ``taken``."""
    left = [stretch]
    for start, end in taken:
        left = [
            piece
            for a, b in left
            for piece in ((a, min(b, start)), (max(a, end), b))
            if piece[1] > piece[0]
        ]
    return left


def timeline(
    history: History, verdict: Verdict, since: datetime, now: datetime
) -> NamespaceHistory:
    """The history of [since, now]: violations, clean and unobserved stretches."""
    covered = coverage(history)
    everything = intervals(history, now)
    shown = [i for i in everything if i.start <= now and (i.end is None or i.end >= since)]
    busy = [(i.start, i.end or now) for i in everything]
    clipped = [(max(a, since), min(b, now)) for a, b in covered if b >= since and a <= now]
    clean = [piece for stretch in clipped for piece in _minus(stretch, busy)]
    gaps = [
        (max(covered[i][1], since), min(covered[i + 1][0], now))
        for i in range(len(covered) - 1)
        if covered[i + 1][0] > max(covered[i][1], since)
    ]
    said: list[tuple[datetime, str]] = []
    if not covered:
        said.append((since, "the history holds no observation: nothing is claimed"))
    elif covered[0][0] > since:
        said.append(
            (since, f"the history begins at {when(covered[0][0])}: nothing is claimed before")
        )
    said += [(a, f"no violation between {when(a)} and {when(b)}") for a, b in clean]
    said += [
        (a, f"not observed between {when(a)} and {when(b)}: no replica of the operator was active")
        for a, b in gaps
    ]
    said += [
        (
            i.start,
            f"{i.kind} {i.object} from {when(i.start)}"
            + (f" to {when(i.end)}" if i.end else " until now (still open)")
            + (f": {i.message}" if i.message else ""),
        )
        for i in shown
    ]
    return NamespaceHistory(
        since=since,
        until=now,
        records=history.count,
        chain="intact" if verdict.intact else str(verdict.problem),
        covered=[Stretch(start=a, end=b) for a, b in clipped],
        violations=shown,
        clean=[Stretch(start=a, end=b) for a, b in clean],
        unobserved=[Stretch(start=a, end=b) for a, b in gaps],
        statements=[text for _, text in sorted(said, key=lambda s: s[0])],
    )
