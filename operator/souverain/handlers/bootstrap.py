"""The SovereigntyProfiles the installation (the Helm chart) asks the operator to keep in
place.

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

from souverain.handlers.lifecycle import active_only
from souverain.runtime.context import context_of

PROFILES_DIR = "SOUVERAIN_PROFILES_DIR"
"""Folder of ``*.yaml`` files with the SovereigntyProfiles to keep in place."""

log = logging.getLogger(__name__)


def shipped_profiles(folder: Path) -> list[dict[str, Any]]:
    """The SovereigntyProfiles in the ``*.yaml`` files of ``folder``, in file-name order."""
    found = []
    for path in sorted(folder.glob("*.yaml")):
        for document in yaml.safe_load_all(path.read_text()):
            if isinstance(document, dict) and document.get("kind") == "SovereigntyProfile":
                found.append(document)
    return found


@kopf.on.startup()
@active_only
def apply_shipped_profiles(memo: kopf.Memo, **_: Any) -> None:
    """Applies the profiles the installation ships; what the chart's values say wins."""
    folder = os.environ.get(PROFILES_DIR)
    if not folder:
        return
    for profile in shipped_profiles(Path(folder)):
        try:
            context_of(memo).api.apply(profile)
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
