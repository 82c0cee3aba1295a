"""The one status writer of souverain's three kinds."""

from __future__ import annotations

from typing import Any

from kubernetes.client.exceptions import ApiException

from souverain.kubeapi import KubeApi


def write_status(
    api: KubeApi, body: dict[str, Any], status: dict[str, Any], *, over_version: bool = False
) -> bool:
    """Merge-patches the status of ``body`` with ``status`` unless every field already
    holds that value; True when it wrote. An object deleted meanwhile has no status left
    to write: that is not an error.

    With ``over_version``, the write holds only if the object is still at the version
    ``body`` was read at (409 Conflict otherwise, for the caller to read it again):
    conditions are one list, so a writer that read before another wrote would put back
    what the other changed (an ``Enforced`` turned False, say)."""
    current = body.get("status") or {}
    if all(current.get(key) == value for key, value in status.items()):
        return False
    metadata = body["metadata"]
    try:
        api.patch_status(
            body["kind"],
            metadata["name"],
            status,
            metadata.get("namespace"),
            resource_version=metadata.get("resourceVersion") if over_version else None,
        )
    except ApiException as error:
        if error.status == 404:
            return False
        raise
    return True
