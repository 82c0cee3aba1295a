"""The ResidentVolume plan: the claim, which class it gets, and the conditions that say
whether the volume is bound and resident."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from souverain import labels
from souverain.api import ResidentVolume
from souverain.api import conditions as c
from souverain.labels import RESIDENT_VOLUME
from souverain.reconcile.volume import (
    belongs,
    claim_size,
    desired_claim,
    plan_volume,
    retained_claim,
)
from tests.support.storage import NODES, PROFILE, on_host, profile, pv, storage_class

NOW = datetime(2030, 1, 1, tzinfo=UTC)


def volume(name: str = "ledger", size: str = "1Gi", **spec: Any) -> ResidentVolume:
    return ResidentVolume.model_validate(
        {
            "metadata": {"name": name, "namespace": "tenant", "uid": "uid-1", "generation": 3},
            "spec": {"size": size, "accessModes": ["ReadWriteOnce"], **spec},
        }
    )


def claim(
    phase: str | None = None,
    volume_name: str | None = None,
    size: str = "1Gi",
    owner_uid: str | None = "uid-1",
    claim_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "name": "ledger",
        "namespace": "tenant",
        "labels": {RESIDENT_VOLUME: "ledger"} if claim_labels is None else claim_labels,
    }
    if owner_uid:
        metadata["ownerReferences"] = [
            {"kind": "ResidentVolume", "name": "ledger", "uid": owner_uid, "controller": True}
        ]
    found: dict[str, Any] = {
        "metadata": metadata,
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": "local-late",
            "resources": {"requests": {"storage": size}},
        },
        "status": {},
    }
    if volume_name:
        found["spec"]["volumeName"] = volume_name
    if phase:
        found["status"]["phase"] = phase
    if phase == "Bound":
        found["status"]["capacity"] = {"storage": "2Gi"}
    return found


def conditions(plan: Any) -> dict[str, tuple[str, str, str]]:
    return {cond.type: (cond.status, cond.reason, cond.message) for cond in plan.conditions}


# -- the claim ----------------------------------------------------------------


def test_the_claim_is_owned_labelled_and_sized() -> None:
    made = desired_claim(volume(size="5Gi", volumeMode="Block"), "local-late", None)
    assert made["metadata"]["name"] == "ledger"
    assert made["metadata"]["namespace"] == "tenant"
    assert made["metadata"]["labels"] == {
        labels.MANAGED_BY: labels.MANAGED_BY_VALUE,
        RESIDENT_VOLUME: "ledger",
    }
    assert made["metadata"]["ownerReferences"] == [
        {
            "apiVersion": "souverain.io/v1alpha1",
            "kind": "ResidentVolume",
            "name": "ledger",
            "uid": "uid-1",
            "controller": True,
        }
    ]
    assert made["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "volumeMode": "Block",
        "storageClassName": "local-late",
        "resources": {"requests": {"storage": "5Gi"}},
    }


@pytest.mark.parametrize(
    ("wanted", "observed", "size"),
    [
        ("2Gi", None, "2Gi"),
        ("2Gi", claim("Bound", "pv", size="1Gi"), "2Gi"),
        ("2Gi", claim("Pending", size="1Gi"), "1Gi"),
        ("1500Mi", claim("Bound", "pv", size="2Gi"), "2Gi"),
        ("1024Mi", claim("Bound", "pv", size="1Gi"), "1Gi"),
    ],
)
def test_a_claim_grows_once_bound_and_never_shrinks(
    wanted: str, observed: dict[str, Any] | None, size: str
) -> None:
    assert claim_size(volume(size=wanted), observed) == size


def test_claims_made_for_the_volume_belong_to_it_and_others_do_not() -> None:
    rv = volume()
    assert belongs(claim(), rv)
    assert belongs(claim(owner_uid=None), rv)  # retained earlier, taken back
    assert not belongs(claim(owner_uid="someone-else"), rv)
    assert not belongs(claim(claim_labels={}), rv)


def test_a_retained_claim_keeps_its_spec_and_drops_the_owner() -> None:
    kept = retained_claim(claim("Bound", "pv-1", size="3Gi"))
    assert "ownerReferences" not in kept["metadata"]
    assert kept["metadata"]["labels"] == {RESIDENT_VOLUME: "ledger", labels.RETAINED: "true"}
    assert kept["spec"] == {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": "local-late",
        "resources": {"requests": {"storage": "3Gi"}},
    }


# -- the plan -----------------------------------------------------------------


def plan(**given: Any) -> Any:
    arguments: dict[str, Any] = {
        "profile_name": PROFILE,
        "profile": profile(),
        "storage_class": storage_class(),
        "observed_claim": None,
        "bound_volume": None,
        "nodes": NODES,
        "now": NOW,
    }
    arguments.update(given)
    rv = arguments.pop("rv", volume())
    return plan_volume(rv, **arguments)


def test_a_new_volume_gets_its_claim_and_waits_for_a_pod() -> None:
    made = plan()
    assert made.claim is not None
    assert made.claim["spec"]["storageClassName"] == "local-late"
    found = conditions(made)
    assert found[c.BOUND][:2] == ("False", c.CLAIM_PENDING)
    assert "binds when a pod that uses it is scheduled" in found[c.BOUND][2]
    assert found[c.RESIDENT][:2] == ("Unknown", c.CLAIM_PENDING)
    assert made.conditions[0].observed_generation == 3


def test_a_bound_resident_volume_reports_where_it_is() -> None:
    made = plan(
        observed_claim=claim("Bound", "pv-fr"), bound_volume=pv("pv-fr", [on_host("sov-fr-1")])
    )
    found = conditions(made)
    assert found[c.BOUND][:2] == ("True", c.CLAIM_BOUND)
    assert found[c.RESIDENT][:2] == ("True", c.WITHIN_TOPOLOGY)
    assert made.status_fields() == {
        "claimName": "ledger",
        "volumeName": "pv-fr",
        "capacity": "2Gi",
        "region": "fr-paris",
        "zone": "fr-paris-1",
    }


def test_a_bound_volume_outside_is_reported() -> None:
    made = plan(
        observed_claim=claim("Bound", "pv-us"), bound_volume=pv("pv-us", [on_host("std-us-1")])
    )
    assert conditions(made)[c.RESIDENT][:2] == ("False", c.OUTSIDE_TOPOLOGY)
    assert made.region == "us-east"


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        ({"profile_name": None, "profile": None}, c.NAMESPACE_NOT_SOVEREIGN),
        ({"profile": None}, c.PROFILE_NOT_FOUND),
        ({"rv": volume(storageClassName="fast-us")}, c.STORAGE_CLASS_NOT_ALLOWED),
        ({"storage_class": storage_class("Immediate")}, c.STORAGE_CLASS_BINDS_ANYWHERE),
        ({"storage_class": None}, c.STORAGE_CLASS_NOT_FOUND),
        ({"profile": profile(default=None)}, c.NO_STORAGE_CLASS),
        ({"observed_claim": claim(owner_uid="other-uid")}, c.CLAIM_CONFLICT),
        ({"observed_claim": claim(claim_labels={})}, c.CLAIM_CONFLICT),
    ],
)
def test_no_claim_is_made_where_residency_cannot_hold(given: dict[str, Any], reason: str) -> None:
    made = plan(**given)
    assert made.claim is None
    found = conditions(made)
    assert found[c.BOUND][:2] == ("False", reason)
    assert found[c.RESIDENT][:2] == ("False", reason)


def test_audit_mode_makes_the_claim_and_reports_the_class() -> None:
    made = plan(rv=volume(storageClassName="fast-us"), profile=profile(mode="Audit"))
    assert made.claim is not None
    assert conditions(made)[c.RESIDENT][:2] == ("False", c.STORAGE_CLASS_NOT_ALLOWED)


def test_an_existing_claim_keeps_its_class_and_is_left_alone_when_the_class_is_dropped() -> None:
    made = plan(
        observed_claim=claim("Bound", "pv-fr"),
        bound_volume=pv("pv-fr", [on_host("sov-fr-1")]),
        profile=profile(classes=("zonal",), default="zonal"),
    )
    assert made.claim is None
    found = conditions(made)
    assert found[c.BOUND][0] == "True"
    assert found[c.RESIDENT][:2] == ("False", c.STORAGE_CLASS_NOT_ALLOWED)


def test_a_pending_claim_says_it_grows_once_bound() -> None:
    made = plan(rv=volume(size="3Gi"), observed_claim=claim("Pending"))
    assert made.claim is not None
    assert made.claim["spec"]["resources"]["requests"]["storage"] == "1Gi"
    assert "grows to 3Gi once bound" in conditions(made)[c.BOUND][2]


def test_a_lost_claim_is_not_bound() -> None:
    found = conditions(plan(observed_claim=claim("Lost", "pv-fr")))
    assert found[c.BOUND][:2] == ("False", c.CLAIM_LOST)
    assert found[c.RESIDENT][0] == "Unknown"
