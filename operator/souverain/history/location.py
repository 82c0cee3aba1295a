"""Where a namespace's history is kept, and how its ConfigMaps are found."""

from __future__ import annotations

COMPONENT = "app.kubernetes.io/component"
COMPONENT_VALUE = "violation-history"
SELECTOR = f"{COMPONENT}={COMPONENT_VALUE}"
"""Selects every history ConfigMap."""
PREFIX = "souverain-history-"


def config_map_name(namespace: str) -> str:
    return f"{PREFIX}{namespace}"


def namespace_of(config_map: str) -> str | None:
    """The sovereign namespace a history ConfigMap is named for, if it is one."""
    return config_map[len(PREFIX) :] if config_map.startswith(PREFIX) else None
