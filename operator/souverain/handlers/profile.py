"""SovereigntyProfile: validate it, count the nodes that qualify, keep its admission
policy binding, and carry its changes to every bound namespace."""

from __future__ import annotations

import logging
from typing import Any

import kopf
from pydantic import ValidationError

from souverain import metrics
from souverain.admission import egress_floor, protection, storage
from souverain.api import SovereigntyProfileSpec
from souverain.api import conditions as c
from souverain.api.conditions import Condition, find_condition
from souverain.handlers import events
from souverain.handlers import namespace as namespace_handlers
from souverain.handlers import placement as placement_handlers
from souverain.handlers.indices import first, given
from souverain.kubeapi import KubeApi
from souverain.reconcile.conditions import condition, merge_conditions
from souverain.reconcile.profile import plan_profile
from souverain.settings import operator_username

KIND = "SovereigntyProfile"
GROUP, VERSION, PLURAL = "souverain.io", "v1alpha1", "sovereigntyprofiles"

log = logging.getLogger(__name__)


def _status(
    body: dict[str, Any], updates: list[Condition], qualified: int, namespaces: int
) -> dict[str, Any]:
    existing = [
        Condition.model_validate(raw) for raw in (body.get("status") or {}).get("conditions", [])
    ]
    merged = merge_conditions(existing, updates)
    return {
        "conditions": [cond.model_dump(by_alias=True, exclude_none=True) for cond in merged],
        "observedGeneration": body["metadata"].get("generation"),
        "qualifiedNodes": qualified,
        "namespaces": namespaces,
    }


def write_status(api: KubeApi, body: dict[str, Any], status: dict[str, Any]) -> bool:
    """Patches the status when it differs; True when it did."""
    current = body.get("status") or {}
    if all(current.get(key) == value for key, value in status.items()):
        return False
    api.patch_status(KIND, body["metadata"]["name"], status)
    return True


def _apply_admission(api: KubeApi, bindings: list[dict[str, Any]]) -> None:
    """Applies the profile's bindings and the cluster-wide policies they refer to
    (applying an unchanged object again is a no-op)."""
    if not bindings:
        return
    operator = operator_username()
    for policy in [
        egress_floor.egress_floor_policy(operator),
        *storage.storage_policies(operator),
        *protection.protection_policies(operator),
        *bindings,
    ]:
        api.apply(policy)


def converge_profile(
    api: KubeApi,
    body: dict[str, Any],
    node_labels: kopf.Index[str, Any],
    bound: list[str],
    *,
    admission: bool = True,
) -> None:
    """Applies the profile's admission policies and bindings (unless ``admission`` is
    False: they follow the spec, not the nodes) and writes its status."""
    name = body["metadata"]["name"]
    generation = body["metadata"].get("generation")
    with metrics.reconciling(KIND):
        try:
            spec = SovereigntyProfileSpec.model_validate(body.get("spec") or {})
        except ValidationError as error:
            invalid = condition(c.VALID, "False", c.SPEC_INVALID, str(error), generation)
            ready = condition(c.READY, "False", c.SPEC_INVALID, str(error), generation)
            write_status(api, body, _status(body, [invalid, ready], 0, len(bound)))
            raise kopf.PermanentError(f"spec is not valid: {error}") from error
        nodes = {node: first(node_labels, node) or {} for node in node_labels}
        plan = plan_profile(name, generation, spec, nodes, **placement_handlers.native_layers(api))
        placement_handlers.keep_policies(api, name, plan.admission)
        if admission:
            _apply_admission(api, plan.admission)
        metrics.record_qualified_nodes(name, len(plan.qualified_nodes))
        write_status(
            api, body, _status(body, plan.conditions, len(plan.qualified_nodes), len(bound))
        )


def _bound(namespaces_by_profile: kopf.Index[str, Any], profile: str) -> list[str]:
    store = namespaces_by_profile.get(profile)
    return sorted(store) if store is not None else []


@kopf.on.resume(GROUP, VERSION, PLURAL)
@kopf.on.create(GROUP, VERSION, PLURAL)
@kopf.on.update(GROUP, VERSION, PLURAL)
def reconcile(body: kopf.Body, name: str, memo: kopf.Memo, **kwargs: Any) -> None:
    """Validates the profile, counts its nodes, and converges every bound namespace."""
    bound = _bound(given(kwargs, "namespaces_by_profile"), name)
    converge_profile(memo.kube, dict(body), given(kwargs, "node_labels"), bound)
    for namespace in bound:
        sns = first(given(kwargs, "sovereign_namespaces"), namespace)
        if sns is not None and not sns["metadata"].get("deletionTimestamp"):
            namespace_handlers.converge(memo.kube, sns, dict(body))


@kopf.on.event("", "v1", "nodes")
def recount(memo: kopf.Memo, **kwargs: Any) -> None:
    """Node labels changed, or nodes came or went: recount every profile's qualified nodes."""
    profiles, node_labels = given(kwargs, "profiles"), given(kwargs, "node_labels")
    namespaces_by_profile = given(kwargs, "namespaces_by_profile")
    for profile_name in list(profiles):
        body = first(profiles, profile_name)
        if body is None or body["metadata"].get("deletionTimestamp"):
            continue
        try:
            converge_profile(
                memo.kube,
                body,
                node_labels,
                _bound(namespaces_by_profile, profile_name),
                admission=False,
            )
        except kopf.PermanentError:
            continue


@kopf.on.delete(GROUP, VERSION, PLURAL)
def guard_deletion(body: kopf.Body, name: str, memo: kopf.Memo, **kwargs: Any) -> None:
    """A profile that namespaces still use stays until they are gone, so that no namespace
    is left half-enforced; its status and an Event say why."""
    bound = _bound(given(kwargs, "namespaces_by_profile"), name)
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
            events.post(body, c.PROFILE_IN_USE, message, warning=True)
            qualified = int((body.get("status") or {}).get("qualifiedNodes") or 0)
            write_status(
                memo.kube, dict(body), _status(dict(body), [blocked], qualified, len(bound))
            )
        raise kopf.TemporaryError(message, delay=5)
    metrics.forget_profile(name)
    for obj in plan_profile(name, None, None, {}).admission:
        memo.kube.delete(obj["kind"], obj["metadata"]["name"])
