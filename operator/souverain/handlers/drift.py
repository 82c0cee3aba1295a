"""Putting back the objects the operator manages when someone deletes or edits them.

The webhook configurations are applied again as the replica applied them when it
became active: applying an unchanged object is a no-op, and an edit of a field the
operator set is undone.

The informers of managed NetworkPolicies and RoleBindings select by label, so an object
whose labels are removed arrives as DELETED; Namespaces are all watched, and a bound
one whose ``souverain.io/`` labels changed is converged again. Only the active replica
repairs (see :func:`souverain.runtime.main.when_active`).
"""

from __future__ import annotations

import logging
from typing import Any

import kopf
from pydantic import ValidationError

from souverain import labels
from souverain.api import SovereignNamespace
from souverain.handlers import profile as profile_handlers
from souverain.handlers.enforcement import wait_unloaded
from souverain.handlers.namespace import (
    capabilities,
    converge_by_name,
    placement_changed,
    profile_spec,
)
from souverain.reconcile.namespace import holds, namespace_labels, plan_namespace
from souverain.runtime.context import Context
from souverain.runtime.informer import Change

log = logging.getLogger(__name__)


def drifted(context: Context, change: Change) -> bool:
    """Whether ``change`` took a managed object away from what the operator applied."""
    obj, kind = change.obj, change.obj.get("kind") or ""
    namespace = obj["metadata"].get("namespace") or obj["metadata"]["name"]
    sns = context.snapshot.sovereign_namespace(namespace)
    if sns is None:
        return False
    try:
        model = SovereignNamespace.model_validate(sns)
    except ValidationError:
        return False
    if kind == "Namespace":
        if change.type == "ADDED":
            return False  # a Namespace the operator just made, or one seen again
        try:
            spec = profile_spec(context.snapshot.profile(model.spec.profile_name))
        except ValidationError:
            spec = None
        wanted = namespace_labels(model, spec)
        current = obj["metadata"].get("labels") or {}
        return change.type == "DELETED" or any(current.get(k) != v for k, v in wanted.items())
    name = obj["metadata"]["name"]
    if not name.startswith("souverain-") or change.type == "ADDED":
        return False
    profile = context.snapshot.profile(sns["spec"].get("profileName", ""))
    try:
        plan = plan_namespace(model, profile_spec(profile), {}, capabilities(context.api))
    except ValidationError:
        return False
    kept = [*plan.children, *([plan.owners] if plan.owners else [])]
    desired = next(
        (ch for ch in kept if ch["kind"] == kind and ch["metadata"]["name"] == name), None
    )
    if desired is None:  # no longer wanted: converging removes it, unless it is gone
        return change.type != "DELETED"
    return change.type == "DELETED" or not holds(desired, obj)


def repair_if_drifted(context: Context, change: Change) -> None:
    """Converges the owning SovereignNamespace when ``change`` drifted a managed object."""
    if not drifted(context, change):
        return
    obj = change.obj
    namespace = obj["metadata"].get("namespace") or obj["metadata"]["name"]
    log.info(
        "Repairing %s %s/%s after a %s event",
        obj.get("kind"),
        namespace,
        obj["metadata"]["name"],
        change.type,
    )
    context.repairs.add(f"SovereignNamespace/{namespace}")


def keep_webhook_configuration(context: Context, change: Change) -> None:
    """Applies the webhook configuration of ``change``'s kind again after it was deleted or
    edited, so that the webhooks stay in force (the native policies hold meanwhile)."""
    kind = change.obj.get("kind") or ""
    desired = context.webhook_configurations.get(kind)
    if desired is None or change.type == "ADDED":
        return
    if change.type == "DELETED":
        log.warning("%s %s was deleted; putting it back", kind, desired["metadata"]["name"])
    context.repairs.add(kind)


def keep_profile_bindings(context: Context, change: Change) -> None:
    """Puts back a profile's ValidatingAdmissionPolicyBinding that someone deleted or
    edited. Until it refuses again, the namespaces bound to the profile are not
    reported enforced (see :func:`restore_profile`)."""
    obj = change.obj
    profile = (obj["metadata"].get("labels") or {}).get(labels.PROFILE)
    if change.type == "ADDED" or not profile:
        return
    body = context.snapshot.profile(profile)
    if body is None or body["metadata"].get("deletionTimestamp"):
        return
    try:
        found = profile_handlers.plan(context, body)
    except kopf.PermanentError:
        return
    name = obj["metadata"]["name"]
    desired = next(
        (
            o
            for o in found.admission
            if o["kind"] == obj.get("kind") and o["metadata"]["name"] == name
        ),
        None,
    )
    if desired is None or (change.type != "DELETED" and _within(desired["spec"], obj["spec"])):
        return
    log.warning("%s %s was %s; putting it back", obj.get("kind"), name, change.type.lower())
    deleted = ""
    if change.type == "DELETED":
        deleted = f"/{name}"
        context.unloading.add(profile)
    context.repairs.add(f"SovereigntyProfile/{profile}{deleted}")


def _within(desired: Any, observed: Any) -> bool:
    """Whether ``observed`` holds every field of ``desired`` as written: the API server
    adds defaults to a binding (``matchPolicy``, empty selectors), which are no drift."""
    if isinstance(desired, dict):
        return isinstance(observed, dict) and all(
            _within(value, observed.get(key)) for key, value in desired.items()
        )
    return bool(desired == observed)


def restore_profile(context: Context, name: str, deleted: str = "") -> None:
    """Says in every namespace bound to profile ``name`` that a layer of it was taken
    away, applies the profile's admission objects again, and probes the namespaces: they
    are reported enforced again once the API server refuses their escapes again. For a
    ``deleted`` binding, the API server is first seen without it: until it reloads its
    policies, the deleted binding still refuses, and a refusal then says nothing of the
    binding put back."""
    message = (
        f"An admission binding of SovereigntyProfile {name} was deleted or changed; it is"
        " being put back, and the namespace is probed again once it is."
    )
    if deleted:
        context.unloading.add(name)
    bound = context.snapshot.bound_to(name)
    for namespace in bound:
        placement_changed(context, namespace, not_enforced=message)
    body = context.snapshot.profile(name)
    try:
        spec = profile_spec(body) if deleted and bound else None
    except ValidationError:
        spec = None  # the profile's own reconciliation says why in its status
    try:
        still = (
            body is not None
            and spec is not None
            and not wait_unloaded(context, bound[0], body, spec, deleted)
        )
        if still:
            log.warning("The API server still answers as %s, which was deleted", deleted)
    finally:
        # Tried again from the start if it failed: the deletion is then seen again.
        context.unloading.discard(name)
    profile_handlers.restore(context, name)


def repair(context: Context, key: str) -> None:
    """Does one repair of :attr:`Context.repairs`: ``SovereignNamespace/<name>`` converges
    that namespace, ``SovereigntyProfile/<name>`` puts back the profile's admission
    objects (:func:`restore_profile`), a webhook configuration's kind applies it again. A
    repair that fails is tried again (:func:`souverain.runtime.work.work_on`), so that one
    refused while the API server is away or not ready is not lost."""
    kind, _, name = key.partition("/")
    if kind == "SovereignNamespace":
        converge_by_name(context, name)
    elif kind == "SovereigntyProfile":
        profile, _, deleted = name.partition("/")
        restore_profile(context, profile, deleted)
    elif kind in context.webhook_configurations:
        context.api.apply(context.webhook_configurations[kind])
