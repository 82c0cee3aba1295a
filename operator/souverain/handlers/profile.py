"""SovereigntyProfile: validate it, keep its admission policies and bindings, count the
nodes that qualify, and carry its changes to every bound namespace."""

from __future__ import annotations

import logging
from typing import Any

import kopf
from pydantic import ValidationError

from souverain.admission import (
    egress_floor,
    exposure,
    images,
    placement,
    protection,
    snapshots,
    storage,
)
from souverain.admission.policy import binding_name
from souverain.api import SovereigntyProfile, SovereigntyProfileSpec
from souverain.api import conditions as c
from souverain.api.conditions import Condition, find_condition
from souverain.handlers import namespace as namespace_handlers
from souverain.handlers.lifecycle import active_only
from souverain.handlers.status import write_status
from souverain.kubeapi import KubeApi, describe
from souverain.reconcile.conditions import condition, merge_conditions
from souverain.reconcile.profile import ProfilePlan, layered_bindings, plan_profile
from souverain.runtime.context import Context, context_of
from souverain.runtime.informer import Change
from souverain.runtime.work import TOLD
from souverain.settings import operator_username

KIND = "SovereigntyProfile"
RESOURCE = SovereigntyProfile.resource()

log = logging.getLogger(__name__)


def _status(
    body: dict[str, Any], updates: list[Condition], qualified: int, namespaces: int
) -> dict[str, Any]:
    existing = [
        Condition.model_validate(raw) for raw in (body.get("status") or {}).get("conditions", [])
    ]
    merged = merge_conditions(existing, updates)
    enforced = find_condition(merged, c.ENFORCED)
    ready = find_condition(merged, c.READY)
    if enforced is not None and enforced.status == "False" and ready and ready.status == "True":
        # Qualified nodes are not enough: the profile is Ready when its policies answer.
        merged = merge_conditions(
            merged,
            [
                condition(
                    c.READY,
                    "False",
                    enforced.reason,
                    f"{c.ENFORCED}: {enforced.message}",
                    body["metadata"].get("generation"),
                )
            ],
        )
    return {
        "conditions": [cond.model_dump(by_alias=True, exclude_none=True) for cond in merged],
        "observedGeneration": body["metadata"].get("generation"),
        "qualifiedNodes": qualified,
        "namespaces": namespaces,
    }


def keep_admission(context: Context, profile: str, admission: list[dict[str, Any]]) -> None:
    """Applies the profile's bindings and the cluster-wide policies they refer to
    (applying an unchanged object again is a no-op), then deletes the bindings that come
    and go with the placement layers that the profile no longer has (mode changed to
    Audit, native layer turned on or off): what replaces them is in force first."""
    api = context.api
    operator = operator_username()
    kinds = {obj["kind"] for obj in admission}
    if "MutatingAdmissionPolicyBinding" in kinds:
        api.apply(placement.mutating_policy())
    wanted = {(obj["kind"], obj["metadata"]["name"]) for obj in admission}
    if (
        "ValidatingAdmissionPolicyBinding",
        binding_name(placement.VALIDATING_POLICY_NAME, profile),
    ) in wanted:
        api.apply(placement.validating_policy(operator))
    if admission:
        for policy in [
            egress_floor.egress_floor_policy(operator),
            *storage.storage_policies(operator),
            *exposure.exposure_policies(operator),
            *snapshots.snapshot_policies(operator),
            *protection.protection_policies(operator),
            *images.images_policies(operator),
            *admission,
        ]:
            api.apply(policy)
    for stub in layered_bindings(profile):
        key = (stub["kind"], stub["metadata"]["name"])
        if key not in wanted and api.serves(stub["kind"]):
            api.delete(*key)


def plan(context: Context, body: dict[str, Any]) -> ProfilePlan:
    """The profile's plan against the nodes the snapshot holds; PermanentError, with the
    status saying why, when its spec cannot be read."""
    name = body["metadata"]["name"]
    generation = body["metadata"].get("generation")
    try:
        spec = SovereigntyProfileSpec.model_validate(body.get("spec") or {})
    except ValidationError as error:
        invalid = condition(c.VALID, "False", c.SPEC_INVALID, str(error), generation)
        ready = condition(c.READY, "False", c.SPEC_INVALID, str(error), generation)
        bound = len(context.snapshot.bound_to(name))
        write_status(context.api, body, _status(body, [invalid, ready], 0, bound))
        raise kopf.PermanentError(f"spec is not valid: {error}") from error
    return plan_profile(
        name,
        generation,
        spec,
        context.snapshot.node_labels(),
        native_placement=context.webhook.native,
        mutating_policies=context.api.serves("MutatingAdmissionPolicy"),
    )


def write_profile_status(context: Context, body: dict[str, Any], found: ProfilePlan) -> None:
    name = body["metadata"]["name"]
    context.metrics.record_qualified_nodes(name, len(found.qualified_nodes))
    bound = len(context.snapshot.bound_to(name))
    status = _status(body, found.conditions, len(found.qualified_nodes), bound)
    write_status(context.api, body, status)


def count_nodes(context: Context, name: str) -> None:
    """Counts the nodes that qualify for profile ``name`` again and writes its status
    (its admission objects follow its spec, not the nodes: they are left alone)."""
    body = context.snapshot.profile(name)
    if body is None or namespace_handlers.deleting(body):
        return  # a profile being deleted has the status that says why it stays
    with context.metrics.reconciling(KIND):
        try:
            found = plan(context, body)
        except kopf.PermanentError:
            return
        write_profile_status(context, body, found)


def nodes_changed(context: Context, change: Change) -> None:
    """A node came, went or changed labels: every profile's count may change."""
    if change.old is not None and change.type == "MODIFIED":
        before = change.old["metadata"].get("labels") or {}
        if before == (change.obj["metadata"].get("labels") or {}):
            return
    context.counts.add(*(p["metadata"]["name"] for p in context.snapshot.profiles.items()))


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE)
@active_only
def reconcile(body: kopf.Body, name: str, memo: kopf.Memo, **_: Any) -> None:
    """Validates the profile, keeps its admission objects, counts its nodes, and converges
    every bound namespace."""
    restore(context_of(memo), name, dict(body))


def restore(context: Context, name: str, body: dict[str, Any] | None = None) -> None:
    """Keeps the profile's admission objects, counts its nodes, converges (and so probes)
    every bound namespace and writes the profile's status; ``body`` defaults to the
    profile as the snapshot holds it."""
    whole = body if body is not None else context.snapshot.profile(name)
    if whole is None or namespace_handlers.deleting(whole):
        return
    with context.metrics.reconciling(KIND):
        found = plan(context, whole)
        keep_admission(context, name, found.admission)
        write_profile_status(context, whole, found)
    enforced, failed = converge_bound(context, name, whole)
    # Read again: the status was written above, and a write from the older read fails.
    whole = context.api.get(KIND, name) or whole
    if enforced is not None:
        with context.metrics.reconciling(KIND):
            write_status(
                context.api,
                whole,
                {
                    **_status(
                        whole,
                        [*found.conditions, enforced],
                        len(found.qualified_nodes),
                        len(context.snapshot.bound_to(name)),
                    ),
                    **(
                        {"enforcedGeneration": whole["metadata"].get("generation")}
                        if enforced.status == "True"
                        else {}
                    ),
                },
            )
    if failed:
        raise kopf.TemporaryError(
            f"{len(failed)} bound namespace(s) did not converge: {', '.join(failed[:10])}",
            delay=10,
        )


def _profile_enforced(
    generation: int | None, bound: int, enforced: list[str], failed: list[str]
) -> Condition:
    if not bound:
        return condition(
            c.ENFORCED,
            "Unknown",
            c.NO_NAMESPACE_BOUND,
            "No namespace is bound to the profile: no request can show its policies in force"
            " yet. A namespace bound to it is Ready only once they refuse there.",
            generation,
        )
    if failed:
        return condition(
            c.ENFORCED,
            "False",
            c.LAYER_NOT_IN_FORCE,
            f"{len(failed)} bound namespace(s) are not seen enforced with this generation: "
            + ", ".join(failed[:10])
            + "; their Enforced condition says which layer and why.",
            generation,
        )
    return condition(
        c.ENFORCED,
        "True",
        c.ESCAPES_REFUSED,
        f"The API server refused every escape probed in the {len(enforced)} bound"
        f" namespace(s) with generation {generation} of the profile.",
        generation,
    )


def converge_bound(
    context: Context, name: str, profile: dict[str, Any]
) -> tuple[Condition | None, list[str]]:
    """Converges every namespace bound to the profile; one that fails (being deleted,
    the API server away) does not keep the others from it. Returns the profile's
    ``Enforced`` condition (None while it is being deleted) and the namespaces that
    failed, for which the profile's handler is tried again."""
    failed: list[str] = []
    enforced: list[str] = []
    bound = context.snapshot.bound_to(name)
    generation = profile["metadata"].get("generation")
    for namespace in bound:
        sns = context.snapshot.sovereign_namespace(namespace)
        if sns is None:
            continue
        try:
            converged = namespace_handlers.converge(context, sns, profile)
        except TOLD as error:
            log.warning("Converging %s for profile %s failed: %s", namespace, name, describe(error))
            failed.append(namespace)
            continue
        found = converged.enforcement
        if found is not None and found.in_force:
            enforced.append(namespace)
        elif found is not None:
            failed.append(namespace)
    if namespace_handlers.deleting(profile):
        return None, failed
    return _profile_enforced(generation, len(bound), enforced, failed), failed


@kopf.on.delete(*RESOURCE)
@active_only
def guard_deletion(body: kopf.Body, name: str, memo: kopf.Memo, **_: Any) -> None:
    """A profile that namespaces still use stays until they are gone, so that no namespace
    is left half-enforced; its status and an Event say why."""
    context = context_of(memo)
    api: KubeApi = context.api
    bound = context.snapshot.bound_to(name)
    if bound:
        message = (
            f"SovereigntyProfile {name} is still used by {len(bound)} SovereignNamespace(s): "
            f"{', '.join(bound[:10])}. Delete or rebind them first; the profile stays until then."
        )
        generation = body["metadata"].get("generation")
        blocked = condition(c.READY, "False", c.PROFILE_IN_USE, message, generation)
        existing = [
            Condition.model_validate(raw)
            for raw in (body.get("status") or {}).get("conditions", [])
        ]
        ready = find_condition(existing, c.READY)
        if ready is None or ready.reason != c.PROFILE_IN_USE:
            context.events.post(body, c.PROFILE_IN_USE, message, warning=True)
            qualified = int((body.get("status") or {}).get("qualifiedNodes") or 0)
            write_status(api, dict(body), _status(dict(body), [blocked], qualified, len(bound)))
            # Their status says the profile is being deleted; a namespace that does not
            # converge now does on the next try, as the profile is still in use.
            converge_bound(context, name, dict(body))
        raise kopf.TemporaryError(message, delay=5)
    context.metrics.forget_profile(name)
    for obj in plan_profile(name, None, None, {}).admission:
        api.delete(obj["kind"], obj["metadata"]["name"])
