"""Objects the installation asks the operator to keep in place: the kopf peering object
its replicas share, and the SovereigntyProfiles the Helm chart ships.

The chart cannot create them itself: they are custom resources of CRDs installed by the
same release, and Helm resolves every kind of a release before it creates anything.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import kopf
import yaml
from kubernetes.client.exceptions import ApiException

from souverain.kubeapi import KubeApi

PROFILES_DIR = "SOUVERAIN_PROFILES_DIR"
"""Folder of ``*.yaml`` files with the SovereigntyProfiles to keep in place."""

log = logging.getLogger(__name__)


def _api(memo: kopf.Memo) -> KubeApi:
    api: KubeApi | None = getattr(memo, "kube", None)
    if api is None:
        raise kopf.TemporaryError("the API client is not set up yet", delay=1)
    return api


def shipped_profiles(folder: Path) -> list[dict[str, Any]]:
    """The SovereigntyProfiles in the ``*.yaml`` files of ``folder``, in file-name order."""
    found = []
    for path in sorted(folder.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "SovereigntyProfile":
                found.append(document)
    return found


@kopf.on.startup()
def create_peering(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
    """Creates the ClusterKopfPeering object the replicas share, so that they can elect
    the active one (kopf keeps every replica paused until the object exists)."""
    if settings.peering.standalone or not settings.peering.mandatory:
        return
    peering = {
        "apiVersion": "kopf.dev/v1",
        "kind": "ClusterKopfPeering",
        "metadata": {"name": settings.peering.name},
    }
    try:
        _api(memo).apply(peering)
    except ApiException as error:
        raise kopf.TemporaryError(
            f"cannot create the peering object: {error.status} {error.reason}", delay=5
        ) from error


@kopf.on.startup()
def apply_shipped_profiles(memo: kopf.Memo, **_: Any) -> None:
    """Applies the profiles the installation ships; what the chart's values say wins."""
    folder = os.environ.get(PROFILES_DIR)
    if not folder:
        return
    for profile in shipped_profiles(Path(folder)):
        try:
            _api(memo).apply(profile)
        except ApiException as error:
            raise kopf.TemporaryError(
                f"cannot apply SovereigntyProfile {profile['metadata']['name']}: "
                f"{error.status} {error.reason}",
                delay=5,
            ) from error
        log.info(
            "Applied SovereigntyProfile %s shipped with the installation",
            profile["metadata"]["name"],
        )
