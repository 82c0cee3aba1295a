"""Residency: whether a storage class keeps volumes inside the profile, and whether the
PersistentVolume bound to a claim lies on nodes, regions and zones the profile allows."""

from __future__ import annotations

from typing import Any

import pytest

from souverain.api import conditions as c
from souverain.reconcile.residency import class_problem, residency, term_matches
from tests.support.profiles import SOVEREIGN
from tests.support.storage import NODES, PROFILE, in_region, on_host, profile, pv, storage_class

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
