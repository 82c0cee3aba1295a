"""Kubernetes Events about the objects the operator looks after, posted through kopf."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, cast

import kopf


def post(obj: Mapping[str, Any], reason: str, message: str, *, warning: bool = False) -> None:
    """An Event on ``obj`` (any object with apiVersion, kind and metadata)."""
    body = kopf.Body(cast(kopf.RawBody, obj))
    if warning:
        kopf.warn(body, reason=reason, message=message)
    else:
        kopf.info(body, reason=reason, message=message)
