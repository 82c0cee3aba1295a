"""The hash chain of one namespace's violation history: pure, so that it is tested
without a cluster.

Each record is a JSON object with ``seq`` (its place since the history began), ``at``
(when the operator observed what it says), ``event``, ``prev`` (the hash of the record
before it) and ``hash`` (sha256 of its canonical JSON without ``hash``). Events:

- ``genesis``: recording began; nothing before it is claimed.
- ``observer``: a replica became the active one and observes from here on; between the
  last record before it and it, nothing was observed.
- ``start`` / ``end``: a violation (kind, object, message) began or was no longer seen.
- ``checkpoint``: the observer was still watching, nothing changed.
- ``broken``: the operator found the chain tampered with or garbled; what it found is
  kept as it is, and this record says so.

Bounded: past :data:`MAX_RECORDS` the oldest records are dropped; the base keeps the
hash of the last one dropped, how many were dropped and the violations open at that
point, so that the chain still verifies and the drop shows.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

MAX_RECORDS = 1000
"""Records kept per namespace; older ones are dropped into the base."""
MAX_TEXT = 240
"""Characters kept of a violation's object and message: a record stays a few hundred
bytes, and 1,000 of them well under the 1 MiB limit of a ConfigMap."""
CHECKPOINT_SECONDS = 6 * 3600
"""A running observer adds a checkpoint when its last record is older than this: the
history claims nothing after its last record, so a quiet namespace's coverage lags at
most this much."""
RECORDS_KEY = "records.jsonl"
BASE_KEY = "base.json"
ZERO = "0" * 64
"""The ``prev`` of the first record ever."""

Key = tuple[str, str]
"""(kind, object) of a violation."""
Scope = Callable[[str, str], bool]
"""Which (kind, object) a caller observes: open violations outside it are left alone."""


@dataclass(frozen=True, order=True)
class Violation:
    """Something that breaks the profile now: its kind, the object, in words."""

    kind: str
    object: str
    message: str = ""

    @property
    def key(self) -> Key:
        return (self.kind, self.object)


def canonical(record: Mapping[str, Any]) -> bytes:
    """The bytes a record's hash is computed over: sorted keys, no spaces, UTF-8."""
    fields = {k: v for k, v in record.items() if k != "hash"}
    return json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def digest(record: Mapping[str, Any]) -> str:
    return hashlib.sha256(canonical(record)).hexdigest()


def line_hash(line: str) -> str:
    """What a stored line links by: its ``hash`` when it is a record, else the sha256 of
    the line as stored (a garbled line is linked to as it is, never rewritten)."""
    record = parse_line(line)
    if record is not None and isinstance(record.get("hash"), str):
        return str(record["hash"])
    return hashlib.sha256(line.encode()).hexdigest()


def parse_line(line: str) -> dict[str, Any] | None:
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


def format_time(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: object) -> datetime | None:
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None


@dataclass(frozen=True)
class Base:
    """Where the retained records begin: the hash of the last record dropped, how many
    were, and the violations open at that point."""

    hash: str = ZERO
    dropped: int = 0
    open: tuple[Violation, ...] = ()

    def to_json(self) -> str:
        return json.dumps(
            {
                "hash": self.hash,
                "dropped": self.dropped,
                "open": [[v.kind, v.object, v.message] for v in self.open],
            },
            sort_keys=True,
            separators=(",", ":"),
            ensure_ascii=False,
        )

    @property
    def digest(self) -> str:
        return hashlib.sha256(self.to_json().encode()).hexdigest()

    @classmethod
    def from_json(cls, text: str | None) -> Base | None:
        """The base, or None when ``text`` is not one."""
        if not text:
            return cls()
        try:
            found = json.loads(text)
            opened = tuple(Violation(str(k), str(o), str(m)) for k, o, m in found.get("open", []))
            return cls(str(found["hash"]), int(found["dropped"]), opened)
        except (ValueError, TypeError, KeyError, AttributeError):
            return None


@dataclass(frozen=True)
class History:
    """One namespace's records as stored: the base and one JSON line per record."""

    base: Base = field(default_factory=Base)
    lines: tuple[str, ...] = ()
    base_garbled: bool = False

    @property
    def count(self) -> int:
        """Records since the history began, dropped ones included."""
        return self.base.dropped + len(self.lines)

    @property
    def head(self) -> str:
        return line_hash(self.lines[-1]) if self.lines else self.base.hash

    def records(self) -> list[dict[str, Any]]:
        """The records that can be read, in chain order."""
        return [r for r in (parse_line(line) for line in self.lines) if r is not None]

    def open(self) -> dict[Key, Violation]:
        """The violations open after the last record."""
        found = {v.key: v for v in self.base.open}
        for record in self.records():
            violation = record_violation(record)
            if violation is None:
                continue
            if record.get("event") == "start":
                found[violation.key] = violation
            elif record.get("event") == "end":
                found.pop(violation.key, None)
        return found

    def last_time(self) -> datetime | None:
        for record in reversed(self.records()):
            moment = parse_time(record.get("at"))
            if moment is not None:
                return moment
        return None

    def data(self) -> dict[str, str]:
        """The ConfigMap's data."""
        return {BASE_KEY: self.base.to_json(), RECORDS_KEY: "".join(f"{x}\n" for x in self.lines)}

    @classmethod
    def from_data(cls, data: Mapping[str, Any] | None) -> History:
        """The history a ConfigMap's data holds; whatever cannot be read is kept as it is
        (a line that is not JSON stays a line) for verification to name."""
        data = data or {}
        text = data.get(RECORDS_KEY)
        lines = tuple(x for x in str(text).split("\n") if x) if text else ()
        base = Base.from_json(data.get(BASE_KEY) if isinstance(data.get(BASE_KEY), str) else "")
        return cls(base or Base(), lines, base_garbled=base is None)


def record_violation(record: Mapping[str, Any]) -> Violation | None:
    kind, obj = record.get("kind"), record.get("object")
    if not isinstance(kind, str) or not isinstance(obj, str):
        return None
    return Violation(kind, obj, str(record.get("message") or ""))


def _clip(text: str) -> str:
    return text if len(text) <= MAX_TEXT else text[: MAX_TEXT - 1] + "…"


def append(history: History, moment: datetime, event: str, **fields: Any) -> History:
    """``history`` with one more record, linked to its head."""
    record: dict[str, Any] = {
        "seq": history.count,
        "at": format_time(moment),
        "event": event,
        "prev": history.head,
        **{k: _clip(v) if isinstance(v, str) else v for k, v in fields.items() if v is not None},
    }
    record["hash"] = digest(record)
    line = json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return replace(history, lines=(*history.lines, line))


def bounded(history: History, limit: int = MAX_RECORDS) -> History:
    """Drops the oldest records past ``limit`` into the base."""
    if len(history.lines) <= limit:
        return history
    cut = len(history.lines) - limit
    dropped = History(history.base, history.lines[:cut])
    base = Base(
        hash=dropped.head,
        dropped=history.base.dropped + cut,
        open=tuple(sorted(dropped.open().values())),
    )
    return replace(history, base=base, lines=history.lines[cut:])


def transitions(
    opened: Mapping[Key, Violation], current: Iterable[Violation], scope: Scope
) -> tuple[list[Violation], list[Violation]]:
    """(ended, started): open violations in ``scope`` no longer current, and current
    ones not open yet; a message that changes alone is no new violation."""
    now = {v.key: v for v in current if scope(v.kind, v.object)}
    ended = sorted(v for key, v in opened.items() if scope(*key) and key not in now)
    started = sorted(v for key, v in now.items() if key not in opened)
    return ended, started
