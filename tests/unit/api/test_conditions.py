"""Conditions: their time on the wire, their status and reason, how a new one replaces
the old, and the names of their types and reasons."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from pydantic import ValidationError

from souverain.api import Condition, SovereigntyProfileStatus
from souverain.api import conditions as condition_names
from souverain.api.conditions import (
    NAMESPACE_CONDITIONS,
    PROFILE_CONDITIONS,
    READY,
    REASON_PATTERN,
    VOLUME_CONDITIONS,
    find_condition,
    with_condition,
)

NOW = datetime(2026, 3, 1, 12, 0, 0, tzinfo=UTC)


def _condition(status: str, at: datetime, reason: str = "Reconciled") -> Condition:
    return Condition.model_validate(
        {"type": READY, "status": status, "reason": reason, "lastTransitionTime": at}
    )


def test_condition_time_is_rfc3339_utc_to_the_second() -> None:
    paris = timezone(timedelta(hours=1))
    condition = _condition("True", datetime(2026, 3, 1, 13, 0, 0, 999999, tzinfo=paris))
    dumped = condition.model_dump(by_alias=True, exclude_none=True)
    assert dumped["lastTransitionTime"] == "2026-03-01T12:00:00Z"
    assert Condition.model_validate(dumped).last_transition_time == NOW
    assert json.loads(condition.model_dump_json(by_alias=True))["lastTransitionTime"] == (
        "2026-03-01T12:00:00Z"
    )


def test_condition_time_must_carry_a_time_zone() -> None:
    with pytest.raises(ValidationError, match="timezone"):
        _condition("True", datetime(2026, 3, 1, 12, 0, 0))


def test_condition_status_and_reason_are_checked() -> None:
    with pytest.raises(ValidationError, match="status"):
        _condition("Maybe", NOW)
    with pytest.raises(ValidationError, match="reason"):
        _condition("True", NOW, reason="not a reason")


def test_with_condition_keeps_the_time_while_the_status_holds() -> None:
    later = NOW + timedelta(minutes=5)
    first = with_condition([], _condition("True", NOW))
    again = with_condition(first, _condition("True", later, reason="StillFine"))
    assert again[0].last_transition_time == NOW
    assert again[0].reason == "StillFine"
    flipped = with_condition(again, _condition("False", later, reason="NoQualifiedNodes"))
    assert flipped[0].last_transition_time == later
    assert flipped[0].status == "False"
    assert len(flipped) == 1


def test_with_condition_adds_new_types_and_leaves_others_alone() -> None:
    valid = Condition(type="Valid", status="True", reason="SpecValid", last_transition_time=NOW)
    both = with_condition([valid], _condition("Unknown", NOW))
    assert [c.type for c in both] == ["Valid", READY]
    assert both[0] is valid
    found = find_condition(both, READY)
    assert found is not None
    assert found.status == "Unknown"
    assert find_condition(both, "Bound") is None


def test_condition_types_and_reasons_are_camel_case_and_distinct() -> None:
    types = {*PROFILE_CONDITIONS, *NAMESPACE_CONDITIONS, *VOLUME_CONDITIONS}
    assert types == {
        "Ready",
        "Valid",
        "NamespaceReady",
        "EgressRestricted",
        "PlacementEnforced",
        "Compliant",
        "Enforced",
        "Bound",
        "Resident",
    }
    constants = {
        name: value
        for name, value in vars(condition_names).items()
        if name.isupper() and isinstance(value, str) and not name.endswith("PATTERN")
    }
    assert len(set(constants.values())) == len(constants)
    for name, value in constants.items():
        assert re.fullmatch(r"[A-Z][A-Za-z]+", value), name
        assert re.fullmatch(REASON_PATTERN, value), name


def test_status_dump_is_plain_json_for_the_api_server() -> None:
    status = SovereigntyProfileStatus(
        conditions=[_condition("True", NOW)], observed_generation=2, qualified_nodes=3
    )
    dumped = status.model_dump(by_alias=True, exclude_none=True)
    assert json.loads(json.dumps(dumped)) == {
        "conditions": [
            {
                "type": "Ready",
                "status": "True",
                "reason": "Reconciled",
                "message": "",
                "lastTransitionTime": "2026-03-01T12:00:00Z",
            }
        ],
        "observedGeneration": 2,
        "qualifiedNodes": 3,
    }
