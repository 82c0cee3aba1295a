"""Which violations the operator records from the conditions it computes, and in what scope."""

from __future__ import annotations

import argparse

import pytest

from souverain.api import conditions as c
from souverain.cli import since_date
from souverain.history.violations import namespace_violations, volume_violations
from souverain.reconcile.conditions import condition


def test_a_namespace_speaks_for_pods_only_once_placement_is_known() -> None:
    egress = condition(c.EGRESS_RESTRICTED, "False", c.EGRESS_OUTSIDE_PROFILE, "refused", 1)
    ready = condition(c.NAMESPACE_READY, "True", c.RECONCILED, "ok", 1)
    found, scope = namespace_violations("acme", [egress, ready], None)
    assert [(v.kind, v.object) for v in found] == [
        ("EgressOutsideProfile", "SovereignNamespace/acme")
    ]
    assert not scope("PodOnUnqualifiedNode", "Pod/web")
    found, scope = namespace_violations("acme", [ready], (("web", "std-us-1"),))
    assert [(v.kind, v.object) for v in found] == [("PodOnUnqualifiedNode", "Pod/web")]
    assert "std-us-1" in found[0].message
    assert scope("PodOnUnqualifiedNode", "Pod/other")
    assert not scope("NonResidentVolume", "PersistentVolumeClaim/data")


def test_a_volume_speaks_for_its_claim_alone() -> None:
    resident = condition(c.RESIDENT, "False", "OutsideTopology", "in us-east-1", 1)
    found, scope = volume_violations("data", resident)
    assert [(v.kind, v.object) for v in found] == [
        ("NonResidentVolume", "PersistentVolumeClaim/data")
    ]
    assert scope("NonResidentVolume", "PersistentVolumeClaim/data")
    assert not scope("NonResidentVolume", "PersistentVolumeClaim/other")
    assert volume_violations("data", None)[0] == []


def test_since_reads_a_date_or_a_date_and_time() -> None:
    assert since_date("2026-11-01").isoformat() == "2026-11-01T00:00:00+00:00"
    assert since_date("2026-11-01T08:30:00Z").isoformat() == "2026-11-01T08:30:00+00:00"
    with pytest.raises(argparse.ArgumentTypeError):
        since_date("last tuesday")
