"""In-memory indices kopf keeps up to date from watches, so that handlers read
profiles, sovereign namespaces and node labels without asking the API server."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import kopf

KEPT_METADATA = ("name", "uid", "generation", "resourceVersion", "deletionTimestamp")


def essentials(body: kopf.Body) -> dict[str, Any]:
    """The parts of an object the handlers read (not its managedFields, which can be
    larger than the rest of it together)."""
    metadata = body.get("metadata") or {}
    return {
        "apiVersion": body.get("apiVersion"),
        "kind": body.get("kind"),
        "metadata": {key: metadata[key] for key in KEPT_METADATA if key in metadata},
        "spec": dict(body.get("spec") or {}),
        "status": dict(body.get("status") or {}),
    }


@kopf.index("souverain.io", "v1alpha1", "sovereigntyprofiles")
def profiles(name: str, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    """Profile name -> the profile."""
    return {name: essentials(body)}


@kopf.index("souverain.io", "v1alpha1", "sovereignnamespaces")
def sovereign_namespaces(name: str, body: kopf.Body, **_: Any) -> dict[str, dict[str, Any]]:
    """SovereignNamespace name -> the object."""
    return {name: essentials(body)}


@kopf.index("souverain.io", "v1alpha1", "sovereignnamespaces")
def namespaces_by_profile(name: str, spec: kopf.Spec, **_: Any) -> dict[str, str]:
    """Profile name -> names of the SovereignNamespaces bound to it."""
    return {str(spec.get("profileName", "")): name}


@kopf.index("", "v1", "nodes")
def node_labels(name: str, labels: kopf.Labels, **_: Any) -> dict[str, dict[str, str]]:
    """Node name -> its labels."""
    return {name: dict(labels)}


def first(index: kopf.Index[str, Any], key: str) -> Any | None:
    """The one value indexed under ``key``, or None."""
    store = index.get(key)
    return next(iter(store), None) if store is not None else None


def given(kwargs: Mapping[str, Any], name: str) -> kopf.Index[str, Any]:
    """The index kopf passed to a handler under ``name``.

    Handlers take indices through ``**kwargs`` so that their signatures stay within
    kopf's handler protocols.
    """
    index: kopf.Index[str, Any] = kwargs[name]
    return index
