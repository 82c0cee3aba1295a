"""The profiles the chart ships, as the operator reads them: from the folder the chart
mounts, in order, and nothing but SovereigntyProfiles."""

from __future__ import annotations

from pathlib import Path

import yaml

from souverain.handlers.bootstrap import shipped_profiles
from tests.support.repository import REPO


def test_profiles_are_read_in_file_order_and_other_kinds_are_ignored(tmp_path: Path) -> None:
    profile = yaml.safe_load(
        (REPO / "examples" / "sovereigntyprofile-french-sovereign.yaml").read_text()
    )
    second = {**profile, "metadata": {"name": "audit-only"}}
    (tmp_path / "b.yaml").write_text(yaml.safe_dump(profile))
    (tmp_path / "a.yaml").write_text(
        yaml.safe_dump_all([second, {"apiVersion": "v1", "kind": "ConfigMap"}, None])
    )
    (tmp_path / "notes.txt").write_text(yaml.safe_dump(profile))
    found = shipped_profiles(tmp_path)
    assert [p["metadata"]["name"] for p in found] == ["audit-only", "french-sovereign"]
    assert found[1] == profile


def test_an_empty_or_missing_folder_ships_nothing(tmp_path: Path) -> None:
    assert shipped_profiles(tmp_path) == []
    assert shipped_profiles(tmp_path / "absent") == []
