"""Kubernetes Events about the objects the operator looks after.

Only the active replica posts them: a standby that sees the same changes stays silent,
so that an object's Events tell one story. Each Event names the replica that posted it
in ``reportingInstance``.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from kubernetes.client.exceptions import ApiException

from souverain.kubeapi import KubeApi

log = logging.getLogger(__name__)

COMPONENT = "souverain"
MESSAGE_LIMIT = 1024


def event_for(
    obj: Mapping[str, Any], reason: str, message: str, kind: str, instance: str, now: datetime
) -> dict[str, Any]:
    """The core/v1 Event saying ``message`` about ``obj``."""
    metadata = obj.get("metadata") or {}
    stamp = now.strftime("%Y-%m-%dT%H:%M:%SZ")
    return {
        "apiVersion": "v1",
        "kind": "Event",
        "metadata": {
            "generateName": f"{metadata.get('name', 'object')}.",
            "namespace": metadata.get("namespace") or "default",
        },
        "involvedObject": {
            "apiVersion": obj.get("apiVersion"),
            "kind": obj.get("kind"),
            "name": metadata.get("name"),
            "namespace": metadata.get("namespace"),
            "uid": metadata.get("uid"),
        },
        "reason": reason,
        "message": message[:MESSAGE_LIMIT],
        "type": kind,
        "source": {"component": COMPONENT},
        "reportingComponent": COMPONENT,
        "reportingInstance": instance,
        "firstTimestamp": stamp,
        "lastTimestamp": stamp,
        "count": 1,
    }


class EventPoster:
    """Posts Events through the API while ``active`` is set."""

    def __init__(self, api: KubeApi, active: threading.Event, instance: str) -> None:
        self.api = api
        self.active = active
        self.instance = instance

    def post(
        self, obj: Mapping[str, Any], reason: str, message: str, *, warning: bool = False
    ) -> None:
        """An Event on ``obj`` (any object with apiVersion, kind and metadata)."""
        if not self.active.is_set():
            log.debug("Event %s on %s not posted: this replica is on standby", reason, _name(obj))
            return
        kind = "Warning" if warning else "Normal"
        event = event_for(obj, reason, message, kind, self.instance, datetime.now(UTC))
        try:
            self.api.create(event)
        except ApiException as error:
            log.warning("Event %s on %s not posted: %s", reason, _name(obj), error.reason)


def _name(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata") or {}
    return f"{obj.get('kind')}/{metadata.get('name')}"
