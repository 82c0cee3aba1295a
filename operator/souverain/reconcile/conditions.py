"""Building status conditions and the Ready summary."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, datetime

from souverain.api import Condition
from souverain.api import conditions as c
from souverain.api.conditions import ConditionStatus, with_condition


def condition(
    condition_type: str,
    status: ConditionStatus,
    reason: str,
    message: str,
    generation: int | None,
    now: datetime | None = None,
) -> Condition:
    """A condition observed now for ``generation``."""
    return Condition(
        type=condition_type,
        status=status,
        reason=reason,
        message=message,
        last_transition_time=now or datetime.now(UTC),
        observed_generation=generation,
    )


def ready_summary(
    parts: Sequence[Condition], generation: int | None, now: datetime | None = None
) -> Condition:
    """Ready is True when every part is True; otherwise it carries the first part that
    is not, so that ``kubectl get`` shows the reason that matters.

    A part that is not True only because the profile's mode is Audit does not count:
    in Audit mode the profile asks for reports, not refusals, and everything it asks
    for can be in place.
    """
    failing = next(
        (part for part in parts if part.status != "True" and part.reason != c.AUDIT_ONLY), None
    )
    if failing is None:
        return condition(
            c.READY,
            "True",
            c.RECONCILED,
            "Everything the profile requires is in place.",
            generation,
            now,
        )
    return condition(
        c.READY,
        "Unknown" if failing.status == "Unknown" else "False",
        failing.reason,
        f"{failing.type}: {failing.message}",
        generation,
        now,
    )


def merge_conditions(existing: Iterable[Condition], new: Iterable[Condition]) -> list[Condition]:
    """``existing`` updated with ``new``; transition times move only when a status flips."""
    result = list(existing)
    for update in new:
        result = with_condition(result, update)
    return result
