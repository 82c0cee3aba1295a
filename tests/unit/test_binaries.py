"""The binary cache: its pin, its location, and the messages when something is missing."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from souverain.devcluster import binaries

REPO = Path(__file__).resolve().parents[2]


def test_python_pin_matches_the_go_module() -> None:
    go_mod = (REPO / "tools" / "kube" / "go.mod").read_text()
    pinned = re.search(r"k8s\.io/kubernetes (v[0-9.]+)", go_mod)
    assert pinned is not None
    assert pinned.group(1) == binaries.KUBERNETES_VERSION


def test_build_script_and_python_agree_on_the_cache_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("SOUVERAIN_KUBE_BIN", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    script = subprocess.run(
        [str(REPO / "tools" / "kube" / "build.sh"), "--bin-dir"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(script.stdout.strip()) == binaries.bin_dir()
    assert (
        binaries.bin_dir() == tmp_path / "souverain" / "kube" / binaries.KUBERNETES_VERSION / "bin"
    )


def test_environment_variable_overrides_the_cache(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SOUVERAIN_KUBE_BIN", str(tmp_path))
    assert binaries.bin_dir() == tmp_path


def test_missing_binaries_are_named_with_the_way_to_build_them(tmp_path: Path) -> None:
    (tmp_path / "etcd").write_text("#!/bin/sh\n")
    (tmp_path / "etcd").chmod(0o755)
    with pytest.raises(binaries.MissingPrerequisiteError) as missing:
        binaries.require(("etcd", "kube-apiserver", "kwok"), tmp_path)
    message = str(missing.value)
    assert "kube-apiserver, kwok not found" in message
    assert "make binaries" in message
    assert "etcd," not in message


def test_build_without_go_says_what_is_missing(tmp_path: Path) -> None:
    # A copy of the build script outside any checkout, so no venv can provide Go.
    kube = tmp_path / "tools" / "kube"
    shutil.copytree(REPO / "tools" / "kube", kube)
    bare_path = ":".join(p for p in ("/usr/bin", "/bin") if not (Path(p) / "go").exists())
    env = {
        "PATH": bare_path,
        "HOME": str(tmp_path),
        "SOUVERAIN_KUBE_BIN": str(tmp_path / "bin"),
    }
    result = subprocess.run(
        [str(kube / "build.sh")], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 1
    assert "Go 1.26 or newer is needed" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_reports_missing_binaries_in_one_line(tmp_path: Path) -> None:
    env = {**os.environ, "SOUVERAIN_KUBE_BIN": str(tmp_path / "empty")}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "souverain",
            "dev-cluster",
            "up",
            "--state-dir",
            str(tmp_path / "s"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 1
    assert result.stderr.startswith("souverain: etcd, kube-apiserver")
    assert "Traceback" not in result.stderr


def test_build_with_too_old_go_says_what_is_missing(tmp_path: Path) -> None:
    kube = tmp_path / "tools" / "kube"
    shutil.copytree(REPO / "tools" / "kube", kube)
    fake = tmp_path / "old-go"
    fake.mkdir()
    (fake / "go").write_text('#!/bin/sh\n[ "$1 $2" = "env GOVERSION" ] && echo go1.20.14\n')
    (fake / "go").chmod(0o755)
    env = {
        "PATH": f"{fake}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SOUVERAIN_KUBE_BIN": str(tmp_path / "bin"),
    }
    result = subprocess.run(
        [str(kube / "build.sh")], capture_output=True, text=True, env=env, check=False
    )
    assert result.returncode == 1
    assert "Go 1.26 or newer is needed" in result.stderr
