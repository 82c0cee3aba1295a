"""Applying what a SovereignNamespace's plan says its Namespace holds: the Namespace and
the managed objects in it, removing those no longer wanted."""

from __future__ import annotations

from typing import Any

from souverain import labels
from souverain.kubeapi import KubeApi
from souverain.reconcile.namespace import NamespacePlan, holds

CHILD_KINDS = ("NetworkPolicy", "RoleBinding", "CiliumNetworkPolicy")


def apply_plan(
    api: KubeApi, body: dict[str, Any], plan: NamespacePlan, before: dict[str, Any] | None
) -> tuple[list[str], dict[tuple[str, str], dict[str, Any]]]:
    """Applies the plan over the Namespace as read (``before``), all but the owners'
    RoleBinding, which waits for enforcement (:mod:`souverain.handlers.namespace`);
    returns ``Kind/name`` of each object created or changed, and the managed objects
    that were there, by kind and name."""
    if plan.namespace is None:
        return [], {}
    name = body["metadata"]["name"]
    changed: list[str] = []
    after = api.apply(plan.namespace)
    if _version(before) != _version(after):
        changed.append(f"Namespace/{name}")
    selector = f"{labels.SOVEREIGN_NAMESPACE}={name}"
    observed: dict[tuple[str, str], dict[str, Any]] = {}
    kinds = [kind for kind in CHILD_KINDS if kind != "CiliumNetworkPolicy" or api.serves(kind)]
    # A Namespace that was not there a moment ago holds nothing yet: no lists to read.
    for kind in kinds if before is not None else []:
        for obj in api.list_objects(kind, namespace=name, label_selector=selector):
            observed[(kind, obj["metadata"]["name"])] = obj
    wanted = set()
    if plan.owners is not None:
        wanted.add(("RoleBinding", plan.owners["metadata"]["name"]))
    for child in plan.children:
        key = (child["kind"], child["metadata"]["name"])
        wanted.add(key)
        # One the labelled list does not hold is absent or lacks the labels, which this
        # apply adds: either way it changes, with no need to read it first.
        if apply_child(api, child, observed.get(key)):
            changed.append(f"{key[0]}/{key[1]}")
    for (kind, child_name), obj in observed.items():
        if (kind, child_name) not in wanted and obj["metadata"].get("namespace") == name:
            api.delete(kind, child_name, name)
            changed.append(f"-{kind}/{child_name}")
    return changed, observed


def apply_child(api: KubeApi, child: dict[str, Any], existing: dict[str, Any] | None) -> bool:
    """Applies one managed object; True when it was created or changed."""
    applied = api.apply(child)
    if not holds(child, applied):
        # Server-side apply leaves fields another manager added (an egress rule slipped
        # into the deny-all policy); replace the object so that nothing is left over.
        applied = api.replace(
            {**applied, **{k: v for k, v in child.items() if k not in ("metadata",)}}
        )
    return existing is None or _version(existing) != _version(applied)


def _version(obj: dict[str, Any] | None) -> str | None:
    return None if obj is None else obj["metadata"].get("resourceVersion")
