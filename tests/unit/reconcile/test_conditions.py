"""The Ready condition, summed up from the other conditions of an object."""

from __future__ import annotations

from datetime import UTC, datetime

from souverain.reconcile.conditions import condition, ready_summary

NOW = datetime(2026, 11, 30, 12, 0, tzinfo=UTC)


def test_ready_names_the_first_condition_that_is_not_true() -> None:
    parts = [
        condition("NamespaceReady", "True", "Reconciled", "ok", 1, NOW),
        condition("EgressRestricted", "False", "EgressOutsideProfile", "no", 1, NOW),
    ]
    ready = ready_summary(parts, 1, NOW)
    assert (ready.status, ready.reason) == ("False", "EgressOutsideProfile")
    assert ready.message == "EgressRestricted: no"
    assert ready_summary(parts[:1], 1, NOW).status == "True"


def test_audit_mode_does_not_keep_ready_false() -> None:
    parts = [
        condition("NamespaceReady", "True", "Reconciled", "ok", 1, NOW),
        condition("PlacementEnforced", "False", "AuditOnly", "reported only", 1, NOW),
    ]
    assert ready_summary(parts, 1, NOW).status == "True"
