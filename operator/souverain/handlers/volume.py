"""ResidentVolume: apply the plan of :mod:`souverain.reconcile.volume`, report residency,
and let the claim go as the volume's reclaim policy says."""

from __future__ import annotations

import logging
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from souverain.api import ResidentVolume, SovereigntyProfileSpec
from souverain.api import conditions as c
from souverain.api.conditions import Condition, find_condition
from souverain.handlers import history
from souverain.handlers.lifecycle import active_only
from souverain.handlers.status import write_status
from souverain.history.violations import released_volume, volume_violations
from souverain.kubeapi import KubeApi, describe
from souverain.labels import RESIDENT_VOLUME
from souverain.reconcile.conditions import condition, merge_conditions, ready_summary
from souverain.reconcile.volume import (
    VolumePlan,
    belongs,
    effective_class,
    plan_volume,
    requested,
    retained_claim,
)
from souverain.runtime.context import Context, context_of
from souverain.runtime.events import EventPoster
from souverain.runtime.informer import Change

KIND = "ResidentVolume"
RESOURCE = ResidentVolume.resource()
WAITING = (c.NAMESPACE_NOT_SOVEREIGN, c.PROFILE_NOT_FOUND)
"""Reasons that clear up by themselves once the SovereignNamespace or profile exists."""

log = logging.getLogger(__name__)


def _profile(context: Context, namespace: str) -> tuple[str | None, SovereigntyProfileSpec | None]:
    """The name of the profile the namespace is bound to (None when it is not) and its
    spec (None when it does not exist)."""
    sns = context.snapshot.sovereign_namespace(namespace)
    if sns is None:
        return None, None
    profile_name = str(sns["spec"].get("profileName", ""))
    profile = context.snapshot.profile(profile_name)
    if profile is None:
        return profile_name, None
    return profile_name, SovereigntyProfileSpec.model_validate(profile.get("spec") or {})


def converge(context: Context, body: dict[str, Any]) -> VolumePlan:
    """Brings the claim of one ResidentVolume to its plan and writes the volume's status;
    changes nothing when everything is in place."""
    api, events = context.api, context.events
    with context.metrics.reconciling(KIND):
        try:
            rv = ResidentVolume.model_validate(body)
        except ValidationError as error:
            raise kopf.PermanentError(f"the ResidentVolume cannot be read: {error}") from error
        name, namespace = rv.metadata.name, str(rv.metadata.namespace)
        profile_name, profile = _profile(context, namespace)
        nodes = context.snapshot.node_labels()
        observed = api.get("PersistentVolumeClaim", name, namespace)
        class_name = effective_class(rv, profile.storage, observed) if profile else None
        storage_class = api.get("StorageClass", class_name) if class_name else None
        volume_name = ((observed or {}).get("spec") or {}).get("volumeName")
        bound = ((observed or {}).get("status") or {}).get("phase") == "Bound"
        pv = api.get("PersistentVolume", volume_name) if bound and volume_name else None
        plan = plan_volume(rv, profile_name, profile, storage_class, observed, pv, nodes)
        if plan.claim is not None:
            try:
                applied = api.apply(plan.claim)
            except ApiException as error:
                failed = condition(
                    c.BOUND,
                    "False",
                    c.RECONCILE_FAILED,
                    f"The API server refused PersistentVolumeClaim {name}: "
                    f"{error.status} {error.reason}",
                    rv.metadata.generation,
                )
                _write_status(context, body, rv, [failed], plan, profile_name)
                raise kopf.TemporaryError(
                    f"applying the claim failed: {describe(error)}", 15
                ) from error
            _post_claim_events(events, body, observed, applied)
        _write_status(context, body, rv, plan.conditions, plan, profile_name)
    return plan


def _post_claim_events(
    events: EventPoster,
    body: dict[str, Any],
    observed: dict[str, Any] | None,
    applied: dict[str, Any],
) -> None:
    name = applied["metadata"]["name"]
    size = requested(applied)
    if observed is None:
        events.post(body, c.CLAIM_CREATED, f"Created PersistentVolumeClaim {name} ({size}).")
    elif requested(observed) != size:
        events.post(
            body,
            c.CLAIM_RESIZED,
            f"Resized PersistentVolumeClaim {name} from {requested(observed)} to {size}.",
        )


def _write_status(
    context: Context,
    body: dict[str, Any],
    rv: ResidentVolume,
    updates: list[Condition],
    plan: VolumePlan,
    profile_name: str | None,
) -> None:
    """Writes the conditions, the Ready summary and where the volume is; posts an Event when
    the volume stops being resident (or for a new reason); skips writes that change nothing."""
    generation = rv.metadata.generation
    previous = list(rv.status.conditions)
    merged = merge_conditions([x for x in previous if x.type != c.READY], updates)
    parts = [cond for kind in (c.BOUND, c.RESIDENT) if (cond := find_condition(merged, kind))]
    ready = ready_summary(parts, generation)
    old_ready = find_condition(previous, c.READY)
    final = merge_conditions([*merged, *([old_ready] if old_ready else [])], [ready])
    status: dict[str, Any] = {
        "conditions": [cond.model_dump(by_alias=True, exclude_none=True) for cond in final],
        "observedGeneration": generation,
        **plan.status_fields(),
    }
    resident = find_condition(final, c.RESIDENT)
    was = find_condition(previous, c.RESIDENT)
    if (
        resident is not None
        and resident.status == "False"
        and (was is None or (was.status, was.reason) != ("False", resident.reason))
    ):
        context.events.post(body, resident.reason, resident.message, warning=True)
    context.metrics.record_volume(
        str(rv.metadata.namespace),
        rv.metadata.name,
        profile_name or "",
        resident.status if resident else "Unknown",
    )
    write_status(context.api, body, status)
    if profile_name is not None:
        namespace = str(rv.metadata.namespace)
        history.record(context, namespace, *volume_violations(rv.metadata.name, resident))


def _deleting(body: dict[str, Any] | None) -> bool:
    return body is None or bool(body["metadata"].get("deletionTimestamp"))


# -- handlers ------------------------------------------------------------------


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE)
@active_only
def reconcile(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Makes or updates the claim and reports where the volume is; retried while the
    namespace or its profile is still missing."""
    plan = converge(context_of(memo), dict(body))
    reasons = {cond.reason for cond in plan.conditions}
    if reasons & set(WAITING):
        raise kopf.TemporaryError("waiting for the namespace's profile", delay=15)


@kopf.timer(*RESOURCE, interval=120, initial_delay=120, idle=30)
@active_only
def recheck(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """A periodic pass: nodes and profiles change residency without touching the volume."""
    if not _deleting(dict(body)):
        converge(context_of(memo), dict(body))


def converge_by_name(context: Context, namespace: str, name: str) -> None:
    """Converges the ResidentVolume ``namespace/name`` unless it is gone or leaving."""
    if context.snapshot.resident_volumes.get(name, namespace) is None:
        return
    body = context.api.get(KIND, name, namespace)
    if body is not None and not _deleting(body):
        converge(context, body)


def claim_changed(context: Context, change: Change) -> None:
    """A claim made for a ResidentVolume was bound, resized, edited or deleted."""
    metadata = change.obj["metadata"]
    volume = (metadata.get("labels") or {}).get(RESIDENT_VOLUME)
    if volume:
        converge_by_name(context, str(metadata.get("namespace")), str(volume))


def volume_changed(context: Context, change: Change) -> None:
    """A PersistentVolume bound to a ResidentVolume's claim changed (its labels, its
    affinity, its phase)."""
    ref = (change.obj.get("spec") or {}).get("claimRef") or {}
    if ref.get("namespace") and ref.get("name"):
        converge_by_name(context, str(ref["namespace"]), str(ref["name"]))


@kopf.on.delete(*RESOURCE)
@active_only
def release(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Leaves the claim and its data in place, detached and labelled (reclaim Retain), or
    deletes the claim (reclaim Delete). A claim that is not the volume's is never touched."""
    context = context_of(memo)
    api: KubeApi = context.api
    events = context.events
    name, namespace = body["metadata"]["name"], str(body["metadata"]["namespace"])
    with context.metrics.reconciling(KIND):
        claim = api.get("PersistentVolumeClaim", name, namespace)
        rv = ResidentVolume.model_validate(dict(body))
        if claim is not None and belongs(claim, rv) and not _deleting(claim):
            if rv.spec.reclaim == "Delete":
                api.delete("PersistentVolumeClaim", name, namespace)
                events.post(
                    body,
                    c.CLAIM_DELETED,
                    f"Deleted PersistentVolumeClaim {name}: reclaim is Delete.",
                )
            else:
                api.apply(retained_claim(claim))
                events.post(
                    body,
                    c.CLAIM_RETAINED,
                    f"PersistentVolumeClaim {name} and its data are kept, detached from the "
                    "ResidentVolume: reclaim is Retain.",
                )
        history.record(context, namespace, [], released_volume(name))
    context.metrics.forget_volume(namespace, name)
