"""The ResidentVolume plan: which class a claim gets and whether the class keeps volumes
inside the profile, the claim itself, and the residency of the volume bound to it."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from souverain import labels
from souverain.api import ResidentVolume, SovereigntyProfileSpec
from souverain.api import conditions as c
from souverain.labels import RESIDENT_VOLUME
from souverain.reconcile.residency import class_problem, residency, term_matches
from souverain.reconcile.volume import (
    belongs,
    claim_size,
    desired_claim,
    plan_volume,
    retained_claim,
)

NOW = datetime(2030, 1, 1, tzinfo=UTC)
SOVEREIGN = "node-restriction.kubernetes.io/french-sovereign"
PROFILE = "french-sovereign"


def node(region: str, zone: str, sovereign: bool) -> dict[str, str]:
    found = {
        "topology.kubernetes.io/region": region,
        "topology.kubernetes.io/zone": zone,
    }
    if sovereign:
        found[SOVEREIGN] = "true"
    return found


NODES = {
    "sov-fr-1": node("fr-paris", "fr-paris-1", True),
    "sov-fr-3": node("fr-paris", "fr-paris-2", True),
    "std-us-1": node("us-east", "us-east-1", False),
    "rogue-fr": node("fr-paris", "fr-paris-1", False),
}
for name, node_labels in NODES.items():
    node_labels["kubernetes.io/hostname"] = name


def profile(
    regions: tuple[str, ...] = ("fr-paris",),
    zones: tuple[str, ...] = (),
    classes: tuple[str, ...] = ("local-late", "zonal"),
    default: str | None = "local-late",
    mode: str = "Enforce",
) -> SovereigntyProfileSpec:
    storage: dict[str, Any] = {
        "allowedClasses": list(classes),
        "topology": {"regions": list(regions), "zones": list(zones)},
    }
    if default:
        storage["defaultClass"] = default
    return SovereigntyProfileSpec.model_validate(
        {
            "nodeRequirements": [{"key": SOVEREIGN, "operator": "In", "values": ["true"]}],
            "storage": storage,
            "enforcement": {"mode": mode},
        }
    )


def volume(name: str = "ledger", size: str = "1Gi", **spec: Any) -> ResidentVolume:
    return ResidentVolume.model_validate(
        {
            "metadata": {"name": name, "namespace": "tenant", "uid": "uid-1", "generation": 3},
            "spec": {"size": size, "accessModes": ["ReadWriteOnce"], **spec},
        }
    )


def storage_class(mode: str = "WaitForFirstConsumer", **extra: Any) -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": "local-late"},
        "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": mode,
        **extra,
    }


def pv(
    name: str,
    terms: list[dict[str, Any]] | None = None,
    pv_labels: dict[str, str] | None = None,
) -> dict[str, Any]:
    spec: dict[str, Any] = {"capacity": {"storage": "2Gi"}}
    if terms is not None:
        spec["nodeAffinity"] = {"required": {"nodeSelectorTerms": terms}}
    return {"metadata": {"name": name, "labels": pv_labels or {}}, "spec": spec}


def on_host(*hosts: str) -> dict[str, Any]:
    return {
        "matchExpressions": [
            {"key": "kubernetes.io/hostname", "operator": "In", "values": list(hosts)}
        ]
    }


def in_zone(*zones: str) -> dict[str, Any]:
    return {
        "matchExpressions": [
            {"key": "topology.kubernetes.io/zone", "operator": "In", "values": list(zones)}
        ]
    }


def in_region(*regions: str) -> dict[str, Any]:
    return {
        "matchExpressions": [
            {"key": "topology.kubernetes.io/region", "operator": "In", "values": list(regions)}
        ]
    }


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


# -- the class ----------------------------------------------------------------


def test_a_late_binding_allowed_class_is_accepted() -> None:
    assert class_problem("local-late", storage_class(), PROFILE, profile().storage, []) is None


@pytest.mark.parametrize(
    ("name", "found", "reason", "words"),
    [
        (None, None, c.NO_STORAGE_CLASS, "names a storage class"),
        ("fast-us", storage_class(), c.STORAGE_CLASS_NOT_ALLOWED, "allows local-late, zonal"),
        ("zonal", None, c.STORAGE_CLASS_NOT_FOUND, "StorageClass zonal does not exist"),
        ("zonal", storage_class("Immediate"), c.STORAGE_CLASS_BINDS_ANYWHERE, "Immediate"),
    ],
)
def test_classes_that_could_place_data_outside_are_refused(
    name: str | None, found: dict[str, Any] | None, reason: str, words: str
) -> None:
    problem = class_problem(name, found, PROFILE, profile().storage, [])
    assert problem is not None
    assert problem[0] == reason
    assert words in problem[1]


def test_an_empty_allow_list_refuses_every_class() -> None:
    problem = class_problem("local-late", storage_class(), PROFILE, profile(classes=()).storage, [])
    assert problem is not None
    assert "allows no storage class" in problem[1]


def topology_class(*terms: dict[str, Any]) -> dict[str, Any]:
    return storage_class(
        "Immediate",
        allowedTopologies=[
            {"matchLabelExpressions": [{"key": k, "values": v} for k, v in term.items()]}
            for term in terms
        ],
    )


@pytest.mark.parametrize(
    ("terms", "inside"),
    [
        ([{"topology.kubernetes.io/region": ["fr-paris"]}], True),
        ([{"failure-domain.beta.kubernetes.io/region": ["fr-paris"]}], True),
        ([{"topology.kubernetes.io/region": ["fr-paris", "us-east"]}], False),
        (
            [
                {"topology.kubernetes.io/region": ["fr-paris"]},
                {"topology.kubernetes.io/zone": ["us-east-1"]},
            ],
            False,
        ),
        ([{"topology.kubernetes.io/zone": ["fr-paris-1"]}], False),
        ([{"kubernetes.io/hostname": ["sov-fr-1"]}], True),
        ([{"kubernetes.io/hostname": ["sov-fr-1", "std-us-1"]}], False),
    ],
)
def test_an_immediate_class_must_pin_the_topology(
    terms: list[dict[str, list[str]]], inside: bool
) -> None:
    problem = class_problem(
        "zonal", topology_class(*terms), PROFILE, profile().storage, ["sov-fr-1", "sov-fr-3"]
    )
    assert (problem is None) is inside


def test_zones_are_checked_when_the_profile_restricts_them() -> None:
    spec = profile(regions=("fr-paris",), zones=("fr-paris-1",)).storage
    region_only = topology_class({"topology.kubernetes.io/region": ["fr-paris"]})
    both = topology_class(
        {
            "topology.kubernetes.io/region": ["fr-paris"],
            "topology.kubernetes.io/zone": ["fr-paris-1"],
        }
    )
    assert class_problem("zonal", region_only, PROFILE, spec, []) is not None
    assert class_problem("zonal", both, PROFILE, spec, []) is None


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


# -- residency ----------------------------------------------------------------


def test_a_local_volume_on_a_sovereign_node_is_resident() -> None:
    found = residency(pv("pv-fr", [on_host("sov-fr-1")]), PROFILE, profile(), NODES)
    assert (found.status, found.reason) == ("True", c.WITHIN_TOPOLOGY)
    assert (found.region, found.zone) == ("fr-paris", "fr-paris-1")
    assert found.message == (
        "PersistentVolume pv-fr is on node sov-fr-1, in region fr-paris, zone fr-paris-1, "
        f"inside SovereigntyProfile {PROFILE}."
    )


def test_a_local_volume_on_a_non_sovereign_node_is_not_resident() -> None:
    found = residency(pv("pv-us", [on_host("std-us-1")]), PROFILE, profile(), NODES)
    assert (found.status, found.reason) == ("False", c.OUTSIDE_TOPOLOGY)
    assert (found.region, found.zone) == ("us-east", "us-east-1")
    assert "PersistentVolume pv-us is on node std-us-1, in region us-east" in found.message
    assert "std-us-1, which do not qualify" in found.message


def test_a_zonal_volume_inside_the_regions_is_resident_whatever_nodes_share_the_zone() -> None:
    found = residency(pv("pv-zone", [in_region("fr-paris")]), PROFILE, profile(), NODES)
    assert found.status == "True"
    assert found.region == "fr-paris"
    assert found.zone is None  # two zones


def test_a_volume_reaching_another_region_is_not_resident() -> None:
    found = residency(
        pv("pv-wide", [in_region("fr-paris"), in_region("us-east")]), PROFILE, profile(), NODES
    )
    assert (found.status, found.reason) == ("False", c.OUTSIDE_TOPOLOGY)
    assert "reaches region us-east" in found.message
    assert found.region is None


def test_topology_labels_outside_the_profile_make_it_not_resident() -> None:
    found = residency(
        pv("pv-lab", [on_host("sov-fr-1")], {"topology.kubernetes.io/region": "us-east"}),
        PROFILE,
        profile(),
        NODES,
    )
    assert found.reason == c.OUTSIDE_TOPOLOGY
    assert "topology.kubernetes.io/region=us-east" in found.message


def test_a_non_qualified_node_in_a_zone_is_outside_without_topology_pinning() -> None:
    found = residency(pv("pv-rogue", [on_host("rogue-fr")]), PROFILE, profile(), NODES)
    assert found.reason == c.OUTSIDE_TOPOLOGY
    assert "rogue-fr" in found.message


def test_a_qualified_node_outside_the_zones_is_outside() -> None:
    found = residency(
        pv("pv-z2", [on_host("sov-fr-3")]), PROFILE, profile(zones=("fr-paris-1",)), NODES
    )
    assert found.reason == c.OUTSIDE_TOPOLOGY
    assert "outside the regions fr-paris and the zones fr-paris-1" in found.message


@pytest.mark.parametrize(
    ("volume_", "words"),
    [
        (pv("pv-nfs"), "no node affinity and no topology labels"),
        (pv("pv-gone", [on_host("gone")]), "selects no node the operator knows"),
    ],
)
def test_a_volume_that_says_nothing_about_its_place_cannot_be_proven_resident(
    volume_: dict[str, Any], words: str
) -> None:
    found = residency(volume_, PROFILE, profile(), NODES)
    assert (found.status, found.reason) == ("False", c.TOPOLOGY_UNKNOWN)
    assert words in found.message


def test_topology_labels_alone_prove_residency_when_the_profile_restricts_topology() -> None:
    labelled = pv("pv-lab", None, {"topology.kubernetes.io/region": "fr-paris"})
    assert residency(labelled, PROFILE, profile(), NODES).status == "True"
    assert residency(labelled, PROFILE, profile(regions=()), NODES).status == "False"


def test_node_selector_terms_follow_the_scheduler_semantics() -> None:
    fr = NODES["sov-fr-1"]
    by_name = {"matchFields": [{"key": "metadata.name", "operator": "In", "values": ["sov-fr-1"]}]}
    assert term_matches(by_name, "sov-fr-1", fr)
    assert not term_matches(by_name, "sov-fr-3", NODES["sov-fr-3"])
    assert not term_matches({}, "sov-fr-1", fr)
    assert term_matches(
        {"matchExpressions": [{"key": SOVEREIGN, "operator": "Exists"}]}, "sov-fr-1", fr
    )
    assert not term_matches(
        {"matchExpressions": [{"key": SOVEREIGN, "operator": "DoesNotExist"}]}, "sov-fr-1", fr
    )
    assert term_matches(
        {"matchExpressions": [{"key": "gpu", "operator": "NotIn", "values": ["a"]}]},
        "sov-fr-1",
        fr,
    )


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
