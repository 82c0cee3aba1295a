"""The snapshot API's CRDs: found in the binary cache, or named with the way to get them."""

from __future__ import annotations

from pathlib import Path

import pytest

from souverain.devcluster.binaries import MissingPrerequisiteError
from souverain.devcluster.snapshotapi import SNAPSHOT_CRDS, snapshot_crd_files, snapshot_crds


def test_missing_crds_are_named_with_the_way_to_fetch_them(tmp_path: Path) -> None:
    (tmp_path / "snapshot-crds").mkdir()
    (tmp_path / "snapshot-crds" / SNAPSHOT_CRDS[0]).write_text("")
    with pytest.raises(MissingPrerequisiteError) as missing:
        snapshot_crd_files(tmp_path)
    message = str(missing.value)
    assert "make binaries" in message
    assert SNAPSHOT_CRDS[1] in message
    assert SNAPSHOT_CRDS[2] in message
    assert SNAPSHOT_CRDS[0] not in message


def test_the_files_hold_one_definition_each(tmp_path: Path) -> None:
    folder = tmp_path / "snapshot-crds"
    folder.mkdir()
    for name in SNAPSHOT_CRDS:
        plural = name.split("_")[1].removesuffix(".yaml")
        (folder / name).write_text(
            "---\napiVersion: apiextensions.k8s.io/v1\nkind: CustomResourceDefinition\n"
            f"metadata:\n  name: {plural}.snapshot.storage.k8s.io\n"
        )
    names = [crd["metadata"]["name"] for crd in snapshot_crds(tmp_path)]
    assert names == [
        "volumesnapshotclasses.snapshot.storage.k8s.io",
        "volumesnapshotcontents.snapshot.storage.k8s.io",
        "volumesnapshots.snapshot.storage.k8s.io",
    ]
