"""Kubernetes Events about the objects the operator looks after.

Inside kopf's handlers they go through kopf's poster; from the operator's own watch
threads, where kopf's posting context does not exist, they are created through the API.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, cast

import kopf
from kubernetes.client.exceptions import ApiException

from souverain.kubeapi import KubeApi

log = logging.getLogger(__name__)

_direct: KubeApi | None = None


def post_directly_with(api: KubeApi) -> None:
    """The API to create Events with when kopf's poster is out of reach."""
    global _direct
    _direct = api


def post(obj: Mapping[str, Any], reason: str, message: str, *, warning: bool = False) -> None:
    """An Event on ``obj`` (any object with apiVersion, kind and metadata)."""
    body = kopf.Body(cast(kopf.RawBody, obj))
    try:
        if warning:
            kopf.warn(body, reason=reason, message=message)
        else:
            kopf.info(body, reason=reason, message=message)
    except LookupError:
        _create(obj, reason, message, "Warning" if warning else "Normal")


def _create(obj: Mapping[str, Any], reason: str, message: str, kind: str) -> None:
    if _direct is None:
        log.warning("Event %s on %s not posted: no API client yet", reason, _name(obj))
        return
    metadata = obj.get("metadata") or {}
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    namespace = metadata.get("namespace") or "default"
    event = {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {"generateName": f"{metadata.get('name', 'object')}.", "namespace": namespace},
        "involvedObject": {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "name": metadata.get("name"),
            "namespace": metadata.get("namespace"),
            "uid": metadata.get("uid"),
        },
        "reason": reason,
        "message": message[:1024],
        "type": kind,
        "source": {"component": "souverain"},
        "reportingComponent": "souverain",
        "reportingInstance": "souverain",
        "firstTimestamp": now,
        "lastTimestamp": now,
        "count": 1,
    }
    try:
        _direct.create(event)
    except ApiException as error:
        log.warning("Event %s on %s not posted: %s", reason, _name(obj), error.reason)


def _name(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{metadata.get('name')}"
