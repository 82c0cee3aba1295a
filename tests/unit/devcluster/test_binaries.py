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
from tests.support.repository import REPO


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


# A stand-in for Go that records what it is asked to build and makes empty binaries,
# and downloads a module as a folder of empty snapshot CRDs.
FAKE_GO = """#!/bin/sh
case "$1" in
  env) echo go1.26.0; exit 0 ;;
  mod) echo "mod download $4" >> "$GO_LOG"; dir="$GO_LOG.module"; mkdir -p "$dir/config/crd"
       for crd in volumesnapshotclasses volumesnapshotcontents volumesnapshots; do
         touch "$dir/config/crd/snapshot.storage.k8s.io_$crd.yaml"
       done
       printf '{\\n\\t"Path": "%s",\\n\\t"Dir": "%s",\\n\\t"Sum": "h1:x"\\n}\\n' "${4%@*}" "$dir" ;;
  install) echo "install $2" >> "$GO_LOG"; name=${2%@*}; touch "$GOBIN/${name##*/}"
           chmod +x "$GOBIN/${name##*/}" ;;
  build) shift; out=; built=
         while [ $# -gt 0 ]; do
           case "$1" in
             -o) out=$2; shift 2 ;;
             -ldflags) shift 2 ;;
             *) touch "$out${1##*/}"; chmod +x "$out${1##*/}"; built="$built ${1##*/}"; shift ;;
           esac
         done
         echo "build$built" >> "$GO_LOG" ;;
esac
"""


def test_named_binaries_are_built_alone_and_once(tmp_path: Path) -> None:
    kube = tmp_path / "tools" / "kube"
    shutil.copytree(REPO / "tools" / "kube", kube)
    fake = tmp_path / "go"
    fake.mkdir()
    (fake / "go").write_text(FAKE_GO)
    (fake / "go").chmod(0o755)
    cache, log = tmp_path / "bin", tmp_path / "go.log"
    pins = dict(re.findall(r"^(\w+)_VERSION=(v\S+)$", (kube / "build.sh").read_text(), re.M))
    env = {
        "PATH": f"{fake}:/usr/bin:/bin",
        "HOME": str(tmp_path),
        "SOUVERAIN_KUBE_BIN": str(cache),
        "GO_LOG": str(log),
    }

    def build(*names: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [str(kube / "build.sh"), *names], capture_output=True, text=True, env=env, check=False
        )

    assert build("helm").returncode == 0
    assert log.read_text().splitlines() == [f"install helm.sh/helm/v3/cmd/helm@{pins['HELM']}"]
    assert sorted(p.name for p in cache.iterdir()) == [".helm.built", "helm"]

    again = build("helm")
    assert again.returncode == 0
    assert "already built" in again.stdout
    assert len(log.read_text().splitlines()) == 1

    assert build("kubectl", "helm").returncode == 0
    assert log.read_text().splitlines()[1:] == ["build kubectl"]
    assert not (cache / ".etcd.built").exists()

    assert build().returncode == 0
    assert log.read_text().splitlines()[2:] == [
        "build etcd kube-apiserver kube-scheduler kube-controller-manager",
        f"install sigs.k8s.io/kwok/cmd/kwok@{pins['KWOK']}",
        "mod download github.com/kubernetes-csi/external-snapshotter/client/v8"
        f"@{pins['SNAPSHOTTER']}",
    ]
    assert sorted(p.name for p in (cache / "snapshot-crds").iterdir()) == [
        "snapshot.storage.k8s.io_volumesnapshotclasses.yaml",
        "snapshot.storage.k8s.io_volumesnapshotcontents.yaml",
        "snapshot.storage.k8s.io_volumesnapshots.yaml",
    ]
    assert (cache / ".snapshot-crds.built").read_text().strip() == pins["SNAPSHOTTER"]
    assert "binaries are built" in build().stdout


def test_an_unknown_binary_is_refused_by_name(tmp_path: Path) -> None:
    env = {**os.environ, "SOUVERAIN_KUBE_BIN": str(tmp_path / "bin")}
    result = subprocess.run(
        [str(REPO / "tools" / "kube" / "build.sh"), "helm", "kube-router"],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert result.returncode == 1
    assert "unknown binary 'kube-router'" in result.stderr
    assert not (tmp_path / "bin").exists()
