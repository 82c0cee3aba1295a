"""The snapshot API on the local control plane: the CRDs of VolumeSnapshot,
VolumeSnapshotContent and VolumeSnapshotClass, as the external-snapshotter project
publishes them in its Go module (``tools/kube/build.sh`` pins the version and copies
them into ``snapshot-crds/`` of the binary cache).

Only the API is served: no snapshot controller runs, so a VolumeSnapshot stays unbound
until someone writes its status.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any, cast

import yaml

from souverain.devcluster.binaries import MissingPrerequisiteError

SNAPSHOT_CRDS = (
    "snapshot.storage.k8s.io_volumesnapshotclasses.yaml",
    "snapshot.storage.k8s.io_volumesnapshotcontents.yaml",
    "snapshot.storage.k8s.io_volumesnapshots.yaml",
)


def snapshot_crd_files(binaries: Path) -> list[Path]:
    """The three CRD files in the cache ``binaries``, or one error saying how to get them."""
    folder = binaries / "snapshot-crds"
    files = [folder / name for name in SNAPSHOT_CRDS]
    missing = [path.name for path in files if not path.is_file()]
    if missing:
        raise MissingPrerequisiteError(
            f"the snapshot API's CRDs ({', '.join(missing)}) are not in {folder}. Fetch them "
            "with 'make binaries' (from the Go module of the external-snapshotter project, "
            "through the Go module proxy)."
        )
    return files


def snapshot_crds(binaries: Path) -> list[dict[str, Any]]:
    """The CustomResourceDefinitions the files hold."""
    return [
        document
        for path in snapshot_crd_files(binaries)
        for document in yaml.safe_load_all(path.read_text())
        if document
    ]


def install_snapshot_api(api_client: Any, binaries: Path, deadline: float) -> list[str]:
    """Creates the snapshot CRDs and waits until the API server serves them (Established);
    returns those it did not establish by ``deadline``."""
    from kubernetes import client

    extensions = client.ApiextensionsV1Api(api_client)
    definitions = snapshot_crds(binaries)
    for definition in definitions:
        extensions.create_custom_resource_definition(cast(Any, definition))
    waiting = {definition["metadata"]["name"] for definition in definitions}
    while waiting and time.monotonic() < deadline:
        for name in sorted(waiting):
            found = extensions.read_custom_resource_definition(name)
            conditions = (found.status and found.status.conditions) or []
            if any(c.type == "Established" and c.status == "True" for c in conditions):
                waiting.discard(name)
        if waiting:
            time.sleep(0.2)
    return sorted(waiting)
