"""Snapshots in the report and in ``souverain plan``, from a cluster state built without
a cluster."""

from __future__ import annotations

from typing import Any

from souverain.report.build import build_report
from souverain.report.html import render
from souverain.report.plan import describe, plan
from souverain.report.snapshots import location
from tests.support.cluster_state import state
from tests.support.profiles import SOVEREIGN

FR, US = "fr-snap", "us-snap"


def profile_spec(**storage: Any) -> dict[str, Any]:
    return {
        "nodeRequirements": [{"key": SOVEREIGN, "operator": "Exists"}],
        "storage": {
            "allowedSnapshotClasses": [FR],
            "topology": {"regions": ["fr-paris"]},
            **storage,
        },
    }


def snapshot(name: str, snapshot_class: str | None, content: str | None = None) -> dict[str, Any]:
    spec: dict[str, Any] = {"source": {"persistentVolumeClaimName": "data"}}
    if snapshot_class:
        spec["volumeSnapshotClassName"] = snapshot_class
    status = {"boundVolumeSnapshotContentName": content} if content else {}
    return {"metadata": {"name": name}, "spec": spec, "status": status}


def content(name: str, driver: str, labels: dict[str, str] | None = None) -> dict[str, Any]:
    return {
        "metadata": {"name": name, "labels": labels or {}},
        "spec": {"driver": driver, "source": {"volumeHandle": "vol-1"}},
        "status": {"snapshotHandle": f"{name}-handle"},
    }


def snapshot_class(name: str, **parameters: str) -> dict[str, Any]:
    return {"metadata": {"name": name}, "driver": "csi.example", "parameters": parameters}


def cluster(**storage: Any) -> Any:
    current = state(
        snapshots={
            "acme": [
                snapshot("kept", FR, "c-kept"),
                snapshot("abroad", US, "c-abroad"),
                snapshot("silent", FR, "c-silent"),
                snapshot("pending", FR),
                snapshot("defaulted", None),
            ]
        },
        snapshot_contents={
            "c-kept": content("c-kept", "csi.fr.example"),
            "c-abroad": content(
                "c-abroad", "csi.us.example", {"topology.kubernetes.io/region": "us-east"}
            ),
            "c-silent": content("c-silent", "csi.fr.example"),
        },
        snapshot_classes={
            FR: snapshot_class(FR),
            US: snapshot_class(US, region="us-east"),
        },
    )
    current.profiles["fr"]["spec"] = profile_spec(**storage)
    return current


def test_where_a_snapshot_lives_is_read_from_its_content_then_its_class() -> None:
    labelled = content("c", "d", {"topology.kubernetes.io/zone": "fr-paris-1"})
    assert location(labelled, snapshot_class(US, region="us-east")) == (
        None,
        "fr-paris-1",
        "labels of VolumeSnapshotContent c",
    )
    assert location(content("c", "d"), snapshot_class(US, **{"csi.example/Location": "eu"})) == (
        "eu",
        None,
        f"parameters of VolumeSnapshotClass {US}",
    )
    both = snapshot_class(FR, region="fr-paris", availabilityZone="fr-paris-2")
    assert location(None, both)[:2] == ("fr-paris", "fr-paris-2")
    assert location(content("c", "d"), snapshot_class(FR, tier="gold")) == (None, None, None)


def test_the_report_lists_each_snapshot_with_its_class_content_and_residency() -> None:
    (part,) = build_report(cluster()).namespaces
    found = {entry.name: entry for entry in part.snapshots}
    assert [entry.name for entry in part.snapshots] == sorted(found)
    abroad = found["abroad"]
    assert (abroad.snapshot_class, abroad.class_allowed, abroad.content) == (US, False, "c-abroad")
    assert (abroad.driver, abroad.snapshot_handle) == ("csi.us.example", "c-abroad-handle")
    assert (abroad.region, abroad.resident) == ("us-east", False)
    assert "region us-east is not one of fr-paris" in str(abroad.message)
    assert found["kept"].class_allowed is True
    assert found["kept"].resident is None  # nothing says where it lives
    assert found["pending"].resident is None
    assert found["pending"].message == "not bound to a VolumeSnapshotContent yet"
    assert found["defaulted"].class_allowed is False
    violations = {(v.kind, v.object) for v in part.violations}
    assert violations >= {
        ("SnapshotClassNotAllowed", "VolumeSnapshot/abroad"),
        ("NonResidentSnapshot", "VolumeSnapshot/abroad"),
        ("SnapshotClassNotAllowed", "VolumeSnapshot/defaulted"),
    }
    assert not any(
        v.object in ("VolumeSnapshot/kept", "VolumeSnapshot/pending") for v in part.violations
    )
    message = next(v.message for v in part.violations if v.object == "VolumeSnapshot/defaulted")
    assert message == f"no class is not allowed by SovereigntyProfile fr, which allows {FR}"


def test_a_snapshot_whose_class_says_it_is_inside_the_topology_is_resident() -> None:
    current = cluster()
    current.snapshot_classes[FR] = snapshot_class(FR, region="fr-paris")
    (part,) = build_report(current).namespaces
    kept = next(entry for entry in part.snapshots if entry.name == "kept")
    assert (kept.region, kept.resident) == ("fr-paris", True)
    assert kept.location_from == f"parameters of VolumeSnapshotClass {FR}"


def test_without_a_topology_residency_stays_unknown() -> None:
    (part,) = build_report(cluster(topology={})).namespaces
    abroad = next(entry for entry in part.snapshots if entry.name == "abroad")
    assert abroad.resident is None
    assert abroad.message == "the profile restricts no region or zone"


def test_a_cluster_without_snapshots_reports_none() -> None:
    (part,) = build_report(state()).namespaces
    assert part.snapshots == []


def test_the_html_report_shows_the_snapshots() -> None:
    page = render(build_report(cluster()))
    assert "<h3>Snapshots</h3>" in page
    assert "c-abroad" in page
    assert "csi.us.example" in page


def test_the_plan_lists_snapshots_whose_class_a_profile_would_not_allow() -> None:
    change = {
        "apiVersion": "souverain.io/v1alpha1",
        "kind": "SovereigntyProfile",
        "metadata": {"name": "fr"},
        "spec": profile_spec(allowedSnapshotClasses=[US]),
    }
    result = plan(change, cluster())
    (namespace,) = result.namespaces
    assert namespace.snapshots_outside_classes == [
        f"kept: class {FR}",
        f"silent: class {FR}",
        f"pending: class {FR}",
        "defaulted: no class",
    ]
    assert result.breaks_something
    text = describe(result)
    assert "snapshots of a class it would not allow:" in text
    assert f"      - kept: class {FR}" in text


def test_the_plan_of_the_current_classes_breaks_no_snapshot() -> None:
    current = cluster()
    current.snapshots["acme"] = [snapshot("kept", FR, "c-kept")]
    change = {
        "apiVersion": "souverain.io/v1alpha1",
        "kind": "SovereigntyProfile",
        "metadata": {"name": "fr"},
        "spec": profile_spec(),
    }
    (namespace,) = plan(change, current).namespaces
    assert namespace.snapshots_outside_classes == []
