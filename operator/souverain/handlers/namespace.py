"""SovereignNamespace: apply the plan of :mod:`souverain.reconcile.namespace` and report it."""

from __future__ import annotations

import logging
from typing import Any

import kopf
from kubernetes.client.exceptions import ApiException
from pydantic import ValidationError

from souverain import labels
from souverain.api import Condition, SovereignNamespace, SovereigntyProfileSpec
from souverain.api import conditions as c
from souverain.api.conditions import find_condition
from souverain.handlers import history
from souverain.handlers.children import CHILD_KINDS, apply_child, apply_plan
from souverain.handlers.enforcement import verify, wait_granted
from souverain.handlers.lifecycle import active_only
from souverain.handlers.status import write_status
from souverain.history.violations import namespace_violations
from souverain.kubeapi import KubeApi, describe
from souverain.reconcile.conditions import condition, merge_conditions, ready_summary
from souverain.reconcile.enforcement import Enforcement
from souverain.reconcile.namespace import (
    Capabilities,
    NamespacePlan,
    namespace_layers,
    plan_namespace,
    released_namespace,
)
from souverain.reconcile.placement import PlacementReport, status_fields
from souverain.runtime.context import Context, context_of
from souverain.runtime.events import EventPoster

KIND = "SovereignNamespace"
RESOURCE = SovereignNamespace.resource()

log = logging.getLogger(__name__)


def capabilities(api: KubeApi) -> Capabilities:
    """What the cluster serves, from (cached) discovery."""
    return Capabilities(
        cilium=api.serves("CiliumNetworkPolicy"),
        admission_policies=api.serves("ValidatingAdmissionPolicy"),
    )


def profile_spec(profile: dict[str, Any] | None) -> SovereigntyProfileSpec | None:
    """The profile's spec; a profile being deleted still counts: it holds until the
    namespaces bound to it are gone (see ``handlers.profile.guard_deletion``)."""
    if profile is None:
        return None
    return SovereigntyProfileSpec.model_validate(profile.get("spec") or {})


def deleting(obj: dict[str, Any] | None) -> bool:
    return obj is not None and bool(obj.get("metadata", {}).get("deletionTimestamp"))


def converge(
    context: Context, body: dict[str, Any], profile: dict[str, Any] | None
) -> NamespacePlan:
    """Brings the cluster to the plan of one SovereignNamespace and writes its status.

    Level-based: it reads what is there, applies what differs, deletes managed objects
    that are no longer wanted, and changes nothing when everything is in place.
    """
    api, name = context.api, body["metadata"]["name"]
    with context.converging(name), context.metrics.reconciling(KIND):
        try:
            sns = SovereignNamespace.model_validate(body)
        except ValidationError as error:
            _write_status(context, body, [], _invalid(body, error), None)
            raise kopf.PermanentError(f"spec is not valid: {error}") from error
        spec = profile_spec(profile)
        observed_namespace = api.get("Namespace", name)
        plan = plan_namespace(
            sns, spec, observed_namespace, capabilities(api), profile_deleting=deleting(profile)
        )
        try:
            changed, observed = apply_plan(api, body, plan, observed_namespace)
            enforcement = _enforce(context, body, plan, profile, spec, changed, observed)
        except ApiException as error:
            failed = condition(
                c.NAMESPACE_READY,
                "False",
                c.RECONCILE_FAILED,
                f"The API server refused a change: {error.status} {error.reason}",
                sns.metadata.generation,
            )
            _write_status(context, body, [failed], plan, sns)
            raise kopf.TemporaryError(
                f"applying the plan failed: {describe(error)}", delay=10
            ) from error
        # The profile the Namespace now carries: a new one's label is not in the
        # informer yet, and its status would otherwise say Ready before placement.
        bound = sns.spec.profile_name if plan.namespace is not None else None
        report = context.placement.report(name, sns.metadata.generation, bound)
        updates = [*plan.conditions, *(report.conditions if report else [])]
        enforced = _enforced_condition(plan, enforcement, sns, spec_profile_name(body))
        updates.append(enforced)
        _write_status(context, body, updates, plan, sns, report, enforcement)
        plan.enforcement = enforcement
        _post_events(context.events, body, plan, changed, observed_namespace is None)
    if enforcement is not None and not enforcement.in_force:
        raise kopf.TemporaryError(f"not every layer is in force: {enforced.message}", delay=5)
    return plan


def spec_profile_name(body: dict[str, Any]) -> str:
    return str((body.get("spec") or {}).get("profileName", ""))


def _enforce(
    context: Context,
    body: dict[str, Any],
    plan: NamespacePlan,
    profile: dict[str, Any] | None,
    spec: SovereigntyProfileSpec | None,
    changed: list[str],
    observed: dict[tuple[str, str], dict[str, Any]],
) -> Enforcement | None:
    """Probes what protects the namespace (see :mod:`souverain.reconcile.enforcement`),
    then applies the owners' RoleBinding: at once when every layer refused its escape,
    and otherwise only where it was there already (it is then kept as it was written)."""
    if plan.namespace is None or profile is None or spec is None:
        return None
    enforcement = verify(context, body["metadata"]["name"], profile, spec)
    owners = plan.owners
    if owners is None:
        return enforcement
    key = ("RoleBinding", owners["metadata"]["name"])
    if (enforcement.in_force or key in observed) and apply_child(
        context.api, owners, observed.get(key)
    ):
        changed.append(f"{key[0]}/{key[1]}")
        if not wait_granted(context, owners["metadata"]["namespace"], owners["subjects"][0]):
            log.warning(
                "The owners of %s are not granted admin yet", owners["metadata"]["namespace"]
            )
    return enforcement


def _enforced_condition(
    plan: NamespacePlan, enforcement: Enforcement | None, sns: SovereignNamespace, profile: str
) -> Condition:
    generation = sns.metadata.generation
    if enforcement is not None:
        return enforcement.condition(generation, profile)
    reason = plan.conditions[0].reason if plan.conditions else c.RECONCILING
    return condition(
        c.ENFORCED,
        "Unknown",
        reason,
        "Nothing was probed: " + (plan.conditions[0].message if plan.conditions else reason),
        generation,
    )


def converge_by_name(context: Context, name: str) -> None:
    """Converges the SovereignNamespace ``name`` as the snapshot holds it, with its
    profile, unless it is gone or being deleted."""
    sns = context.snapshot.sovereign_namespace(name)
    if sns is not None:
        converge(context, sns, context.snapshot.profile(sns["spec"].get("profileName", "")))


def placement_changed(context: Context, name: str, not_enforced: str | None = None) -> None:
    """Writes what placement reports into the SovereignNamespace ``name``'s status (its
    placement conditions, pod counts and the violation history) without converging its
    objects: a pod or a node label moving changes only that. With ``not_enforced``, its
    ``Enforced`` condition turns False with that message (a layer was taken away).

    One whose spec is not reconciled yet (no status, or an older generation) is left to
    the reconciliation kopf runs for that generation, which reports placement too: its
    status write marks the namespace again, and the counts are written again if
    placement moved meanwhile. Converging it here as well converged most new namespaces
    twice (their Namespace's label reaches the informer while the first converge is
    under way)."""
    body = context.snapshot.sovereign_namespace(name)
    if body is None:
        return
    current = body.get("status") or {}
    generation = body["metadata"].get("generation")
    if not current.get("conditions") or current.get("observedGeneration") != generation:
        return
    try:
        sns = SovereignNamespace.model_validate(body)
    except ValidationError:
        return  # the next reconciliation says why in the status
    report = context.placement.report(name, generation)
    if report is None:
        return
    plan = NamespacePlan(
        namespace=None,
        enforcement_layers=namespace_layers(
            cilium="CiliumNetworkPolicy" in (current.get("enforcementLayers") or []),
            admission_policies=capabilities(context.api).admission_policies,
        ),
        unenforceable_egress=list(current.get("unenforceableEgress") or []),
    )
    updates = list(report.conditions)
    if not_enforced is not None:
        updates.append(
            condition(c.ENFORCED, "False", c.LAYER_NOT_IN_FORCE, not_enforced, generation)
        )
    with context.metrics.reconciling(KIND):
        _write_status(context, body, updates, plan, sns, report)


def _invalid(body: dict[str, Any], error: ValidationError) -> NamespacePlan:
    generation = body.get("metadata", {}).get("generation")
    message = f"The spec cannot be read: {error.errors()[0].get('msg', error)}"
    return NamespacePlan(
        namespace=None,
        conditions=[condition(c.NAMESPACE_READY, "False", c.SPEC_INVALID, message, generation)],
    )


def _write_status(
    context: Context,
    body: dict[str, Any],
    updates: list[Any],
    plan: NamespacePlan,
    sns: SovereignNamespace | None,
    placement: PlacementReport | None = None,
    enforcement: Enforcement | None = None,
) -> None:
    """Writes ``updates`` over the status as ``body`` holds it; when another writer got
    there first (409), reads the SovereignNamespace again and writes over that, so that
    what the other wrote is kept."""
    for _ in range(3):
        try:
            _compose_status(context, body, updates, plan, sns, placement, enforcement)
        except ApiException as error:
            if error.status != 409:
                raise
            # Listed by name: the role lists SovereignNamespaces, it does not get them.
            name = body["metadata"]["name"]
            found = context.api.list_objects(KIND, field_selector=f"metadata.name={name}")
            if not found:
                return  # deleted meanwhile: no status left to write
            fresh = {"apiVersion": body.get("apiVersion"), "kind": KIND, **found[0]}
            body = fresh
            try:
                sns = SovereignNamespace.model_validate(fresh)
            except ValidationError:
                sns = None
        else:
            return
    _compose_status(context, body, updates, plan, sns, placement, enforcement)


def _compose_status(
    context: Context,
    body: dict[str, Any],
    updates: list[Any],
    plan: NamespacePlan,
    sns: SovereignNamespace | None,
    placement: PlacementReport | None = None,
    enforcement: Enforcement | None = None,
) -> None:
    """Writes conditions, the Ready summary and the counts; skips writes that change nothing."""
    current = body.get("status") or {}
    profile_name = str(body.get("spec", {}).get("profileName", ""))
    if profile_name in context.unloading:
        # A binding of the profile was deleted and the API server may not have unloaded
        # it yet: a probe it refused says nothing of the binding put back.
        enforcement = None
        updates = [
            *(u for u in updates if getattr(u, "type", None) != c.ENFORCED),
            condition(
                c.ENFORCED,
                "False",
                c.LAYER_NOT_IN_FORCE,
                f"An admission binding of SovereigntyProfile {profile_name} was deleted; it is"
                " being put back, and the namespace is probed again once it is.",
                body["metadata"].get("generation"),
            ),
        ]
    existing = [c_ for c_ in (sns.status.conditions if sns else []) if c_.type != c.READY]
    generation = body["metadata"].get("generation")
    merged = merge_conditions(existing, updates)
    parts = [
        cond
        for kind in (
            c.NAMESPACE_READY,
            c.EGRESS_RESTRICTED,
            c.PLACEMENT_ENFORCED,
            c.COMPLIANT,
            c.ENFORCED,
        )
        if (cond := find_condition(merged, kind)) is not None
    ]
    ready = ready_summary(parts, generation)
    old_ready = find_condition(sns.status.conditions, c.READY) if sns else None
    final = merge_conditions([*merged, *([old_ready] if old_ready else [])], [ready])
    status: dict[str, Any] = {
        "conditions": [cond.model_dump(by_alias=True, exclude_none=True) for cond in final],
        "observedGeneration": generation,
        "enforcementLayers": plan.enforcement_layers,
        "unenforceableEgress": plan.unenforceable_egress,
    }
    status.update(status_fields(plan.enforcement_layers, placement, current))
    if enforcement is not None and enforcement.in_force:
        status["enforcedGeneration"] = generation
        status["enforcedProfileGeneration"] = enforcement.profile_generation()
    name = body["metadata"]["name"]
    profile = str(body.get("spec", {}).get("profileName", ""))
    context.metrics.record_namespace(name, profile, ready.status)
    # The history first, so that its anchor goes with this status write.
    pods = placement.non_compliant if placement is not None else None
    violations = namespace_violations(name, final, pods)
    anchored = history.record(context, name, *violations, anchor_status=False)
    if anchored is not None:
        status["history"] = anchored
    write_status(context.api, body, status, over_version=True)


def _post_events(
    events: EventPoster,
    body: dict[str, Any],
    plan: NamespacePlan,
    changed: list[str],
    created: bool,
) -> None:
    name = body["metadata"]["name"]
    restored = [item for item in changed if not item.startswith(("-", "Namespace/"))]
    if created and plan.namespace is not None:
        # One Event for a new namespace, with what was applied in it.
        applied = f"; applied {', '.join(sorted(restored))}" if restored else ""
        events.post(body, c.NAMESPACE_CREATED, message=f"Created Namespace {name}{applied}.")
    elif restored:
        events.post(
            body,
            c.RECONCILED,
            message=f"Applied {', '.join(sorted(restored))}.",
        )
    removed = [item[1:] for item in changed if item.startswith("-")]
    if removed:
        events.post(body, c.RECONCILED, message=f"Removed {', '.join(sorted(removed))}.")
    if plan.refused_egress:
        events.post(
            body,
            warning=True,
            reason=c.EGRESS_OUTSIDE_PROFILE,
            message="Refused extra egress outside the profile's allow-list: "
            + "; ".join(plan.refused_egress),
        )
    if plan.namespace is None and plan.conditions:
        events.post(
            body, warning=True, reason=plan.conditions[0].reason, message=plan.conditions[0].message
        )


# -- handlers ------------------------------------------------------------------


@kopf.on.resume(*RESOURCE)
@kopf.on.create(*RESOURCE)
@kopf.on.update(*RESOURCE)
@active_only
def reconcile(body: kopf.Body, memo: kopf.Memo, **_: Any) -> None:
    """Creates or repairs everything the SovereignNamespace asks for."""
    context = context_of(memo)
    converge(context, dict(body), context.snapshot.profile(body["spec"].get("profileName", "")))


@kopf.on.delete(*RESOURCE)
@active_only
def release(body: kopf.Body, spec: kopf.Spec, name: str, memo: kopf.Memo, **_: Any) -> None:
    """Deletes the Namespace (policy Delete), or leaves it without the operator's objects
    and labels (policy Retain)."""
    context = context_of(memo)
    api, events = context.api, context.events
    with context.metrics.reconciling(KIND):
        if spec.get("deletionPolicy") == "Delete":
            if api.delete("Namespace", name):
                events.post(body, c.NAMESPACE_DELETED, message=f"Deleted Namespace {name}.")
        else:
            selector = f"{labels.SOVEREIGN_NAMESPACE}={name}"
            for kind in CHILD_KINDS:
                if kind == "CiliumNetworkPolicy" and not api.serves(kind):
                    continue
                for obj in api.list_objects(kind, namespace=name, label_selector=selector):
                    api.delete(kind, obj["metadata"]["name"], name)
            namespace = api.get("Namespace", name)
            if namespace is not None and not namespace["metadata"].get("deletionTimestamp"):
                api.apply(released_namespace(SovereignNamespace.model_validate(dict(body))))
                events.post(
                    body,
                    c.NAMESPACE_RETAINED,
                    message=f"Namespace {name} and its workloads are kept; the operator's "
                    "NetworkPolicies, RoleBindings and labels were removed.",
                )
        history.record(context, name, [], released=True)
    context.metrics.forget_namespace(name)
    history.forget(context, name)
