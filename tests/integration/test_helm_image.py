"""The image the chart runs: the Dockerfile's shape, and its build steps run here.

No Docker engine runs on the build machines, so the steps of the Dockerfile are run
as far as they can be without one: the wheel is built from the source tree as the
first stage builds it, installed with its dependencies into a fresh virtual
environment without pip, as the final stage receives it, and started as the
container's entrypoint would be.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest
import yaml

from tests.support.repository import REPO

DOCKERFILE = REPO / "Dockerfile"


def _stages() -> list[list[str]]:
    """The Dockerfile's instructions, one list per stage (continuation lines joined)."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith("FROM "):
            stages.append([])
        if stages:
            stages[-1].append(line)
    return stages


def test_dockerfile_is_multi_stage_pinned_and_non_root() -> None:
    text = DOCKERFILE.read_text()
    [base] = re.findall(r"^ARG PYTHON_IMAGE=(\S+)$", text, re.MULTILINE)
    assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim-\w+(@sha256:[0-9a-f]{64})?", base), base
    build, final = _stages()
    assert build[0] == "FROM ${PYTHON_IMAGE} AS build"
    assert final[0] == "FROM ${PYTHON_IMAGE}"
    # The final stage receives the environment only: no sources, no installs from them.
    copies = [line for line in final if line.startswith("COPY")]
    assert copies == ["COPY --from=build /opt/souverain /opt/souverain"]
    assert not any("pip install" in line or "apt-get" in line for line in final)
    assert any("pip uninstall --yes pip" in line for line in final)
    [user] = [line for line in final if line.startswith("USER ")]
    assert user == "USER 10001:10001"
    assert 'ENTRYPOINT ["souverain"]' in final


def test_chart_runs_the_image_as_its_user() -> None:
    values = yaml.safe_load((REPO / "helm" / "souverain" / "values.yaml").read_text())
    makefile = (REPO / "Makefile").read_text()
    [image] = re.findall(r"^IMAGE \?= (\S+)$", makefile, re.MULTILINE)
    assert values["image"]["repository"] == image
    chart = yaml.safe_load((REPO / "helm" / "souverain" / "Chart.yaml").read_text())
    project = (REPO / "pyproject.toml").read_text()
    assert f'version = "{chart["appVersion"]}"' in project, "the chart's appVersion is the tag"
    assert values["podSecurityContext"]["runAsUser"] == 10001
    assert values["podSecurityContext"]["runAsGroup"] == 10001


def test_dockerignore_sends_only_the_package() -> None:
    kept = [
        line[1:]
        for line in (REPO / ".dockerignore").read_text().splitlines()
        if line.startswith("!")
    ]
    assert kept == ["pyproject.toml", "README.md", "operator/"]
    copied = [
        line.split()[1]
        for line in _stages()[0]
        if line.startswith("COPY ") and "--from" not in line
    ]
    assert copied == ["pyproject.toml", "operator/"]


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel, built as the build stage builds it (``pip wheel --no-deps``)."""
    dist = tmp_path_factory.mktemp("dist")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--wheel-dir", str(dist), str(REPO)],
        check=True,
        capture_output=True,
        timeout=600,
    )
    [built] = dist.glob("souverain-*.whl")
    return built


def test_wheel_holds_the_package_and_its_data_only(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    assert "souverain/py.typed" in names
    assert "souverain/devcluster/nodes.yaml" in names
    assert "souverain/cli.py" in names
    assert not [n for n in names if n.startswith(("tests/", "helm/", "crds/", "examples/"))]


def test_wheel_installs_into_a_bare_environment_and_starts(wheel: Path, tmp_path: Path) -> None:
    env_dir = tmp_path / "opt-souverain"
    subprocess.run(
        [sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120
    )
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "--python",
            str(env_dir / "bin" / "python"),
            "install",
            "--quiet",
            str(wheel),
        ],
        check=True,
        timeout=900,
    )
    assert not (env_dir / "bin" / "pip").exists(), "no installer in the image's environment"
    # As the container starts it: its own PATH, no access to the source tree.
    env = {"PATH": f"{env_dir / 'bin'}:/usr/bin:/bin", "HOME": str(tmp_path)}
    run_help = subprocess.run(
        ["souverain", "run", "--help"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run_help.returncode == 0, run_help.stderr
    for option in ("--lease", "--identity", "--liveness", "--metrics", "--webhook-service"):
        assert option in run_help.stdout
    imported = subprocess.run(
        [
            str(env_dir / "bin" / "python"),
            "-c",
            "import souverain.handlers, souverain; print(souverain.__file__)",
        ],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert imported.returncode == 0, imported.stderr
    assert str(env_dir) in imported.stdout, "imported from the installed wheel"
    assert os.path.commonpath([imported.stdout.strip(), str(REPO)]) != str(REPO)
