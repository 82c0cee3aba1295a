"""What the active replica appends to a namespace's history when it observes it."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta
from typing import Any

from souverain.history.chain import (
    CHECKPOINT_SECONDS,
    History,
    Scope,
    Violation,
    append,
    bounded,
    transitions,
)
from souverain.history.verify import verify


def everything(kind: str, obj: str) -> bool:
    """The scope of an observer that sees every violation of the namespace."""
    return True


def observe(
    history: History,
    anchor: Mapping[str, Any] | None,
    current: Iterable[Violation],
    scope: Scope,
    now: datetime,
    observer: str,
    *,
    first_in_term: bool,
    released: bool = False,
) -> tuple[History, str | None]:
    """``history`` with the records this observation adds (the same object when it adds
    none), and what was found wrong with the chain, if anything.

    In order: a ``broken`` record when the chain does not verify (what was found is
    kept as it is); ``genesis`` on an empty history, else ``observer`` on this
    replica's first observation of the namespace; an ``end`` for each open violation in
    ``scope`` no longer seen and a ``start`` for each new one; ``released`` when the
    SovereignNamespace is being deleted (its status, and the anchor, go with it); a
    checkpoint when nothing else was added and the last record is old."""
    found = history
    problem = verify(history, anchor, since_noted=True).problem
    if problem is not None:
        found = append(found, now, "broken", message=problem, observer=observer)
    if history.count == 0:
        found = append(found, now, "genesis", observer=observer)
    elif first_in_term:
        found = append(found, now, "observer", observer=observer)
    ended, started = transitions(history.open(), current, scope)
    for violation in ended:
        found = append(found, now, "end", kind=violation.kind, object=violation.object)
    for violation in started:
        found = append(
            found,
            now,
            "start",
            kind=violation.kind,
            object=violation.object,
            message=violation.message,
        )
    if released:
        found = append(found, now, "released", observer=observer)
    last = history.last_time()
    if found is history and (last is None or now - last >= timedelta(seconds=CHECKPOINT_SECONDS)):
        found = append(found, now, "checkpoint", observer=observer)
    return (bounded(found) if found is not history else history), problem


def anchor(history: History, config_map: str) -> dict[str, Any]:
    """The ``status.history`` that anchors ``history``'s head."""
    return {
        "configMap": config_map,
        "records": history.count,
        "head": history.head,
        "base": history.base.digest,
    }
