"""Whether the pods of a namespace run where their profile allows, and the conditions
that say so."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from souverain.api import Condition, NodeRequirement
from souverain.api import conditions as c
from souverain.reconcile.conditions import condition
from souverain.reconcile.qualification import qualifies

MAX_NAMED = 10
"""Non-compliant pods named in a condition message; the count says how many in all."""


@dataclass(frozen=True)
class Compliance:
    """The scheduled pods of one namespace, split by whether their node qualifies."""

    compliant: tuple[str, ...]
    non_compliant: tuple[tuple[str, str], ...]
    """(pod, node) for each pod on a node that does not qualify (or is gone), by pod name."""


def assess(
    pods: Mapping[str, str],
    nodes: Mapping[str, Mapping[str, str]],
    requirements: Iterable[NodeRequirement],
) -> Compliance:
    """Splits ``pods`` (name -> node it runs on) by whether the node meets every
    requirement; a node that is not known (deleted) does not qualify."""
    wanted = list(requirements)
    compliant, non_compliant = [], []
    for pod, node in sorted(pods.items()):
        labels = nodes.get(node)
        if labels is not None and qualifies(labels, wanted):
            compliant.append(pod)
        else:
            non_compliant.append((pod, node))
    return Compliance(tuple(compliant), tuple(non_compliant))


def placement_conditions(
    profile: str,
    enforced: bool,
    evicting: bool,
    layers: list[str],
    compliance: Compliance,
    generation: int | None,
    now: datetime | None = None,
) -> list[Condition]:
    """PlacementEnforced (what pins and refuses pods) and Compliant (where they run)."""
    if not enforced:
        placement = condition(
            c.PLACEMENT_ENFORCED,
            "False",
            c.AUDIT_ONLY,
            f"SovereigntyProfile {profile} is in Audit mode: pods are not pinned, and pods that"
            " could run on other nodes are only reported.",
            generation,
            now,
        )
    elif not layers:
        placement = condition(
            c.PLACEMENT_ENFORCED,
            "False",
            c.NO_PLACEMENT_LAYER,
            "Neither admission policies nor the operator's webhooks pin pods here: the cluster"
            " serves no MutatingAdmissionPolicy and the webhook is not configured.",
            generation,
            now,
        )
    else:
        placement = condition(
            c.PLACEMENT_ENFORCED,
            "True",
            c.ADMISSION_POLICY_APPLIED,
            f"Pods are pinned to the nodes of SovereigntyProfile {profile} by {', '.join(layers)}.",
            generation,
            now,
        )
    if not compliance.non_compliant:
        compliant = condition(
            c.COMPLIANT,
            "True",
            c.ALL_PODS_COMPLIANT,
            f"{len(compliance.compliant)} scheduled pod(s), all on qualified nodes.",
            generation,
            now,
        )
    else:
        named = ", ".join(f"{pod} on {node}" for pod, node in compliance.non_compliant[:MAX_NAMED])
        more = len(compliance.non_compliant) - MAX_NAMED
        action = (
            "they are being evicted so that their controllers recreate them on qualified nodes"
            if evicting
            else "they are reported, not evicted"
        )
        compliant = condition(
            c.COMPLIANT,
            "False",
            c.NON_COMPLIANT_PODS,
            f"{len(compliance.non_compliant)} pod(s) run on nodes that do not qualify for"
            f" SovereigntyProfile {profile}: {named}"
            + (f" and {more} more" if more > 0 else "")
            + f"; {action}.",
            generation,
            now,
        )
    return [placement, compliant]


LAYER_MUTATING_POLICY = "MutatingAdmissionPolicy"
LAYER_VALIDATING_POLICY = "ValidatingAdmissionPolicy"
LAYER_WEBHOOK = "AdmissionWebhook"
PLACEMENT_LAYERS = (LAYER_MUTATING_POLICY, LAYER_VALIDATING_POLICY, LAYER_WEBHOOK)


@dataclass
class PlacementReport:
    """What a SovereignNamespace's status says about placement."""

    conditions: list[Condition]
    compliant_pods: int
    non_compliant_pods: int
    layers: list[str]
    non_compliant: tuple[tuple[str, str], ...] = ()
    """(pod, node) of each pod on a node that does not qualify."""


def placement_layers(*, native: bool, mutating: bool, enforced: bool, webhook: bool) -> list[str]:
    """The placement layers in force for a profile: the native policies (the mutating one
    only where it is served and the profile enforces) and the operator's webhooks."""
    found = []
    if native:
        if mutating and enforced:
            found.append(LAYER_MUTATING_POLICY)
        found.append(LAYER_VALIDATING_POLICY)
    if webhook:
        found.append(LAYER_WEBHOOK)
    return found


def status_fields(
    layers: list[str], report: PlacementReport | None, current: Mapping[str, Any]
) -> dict[str, Any]:
    """The status fields placement adds to a SovereignNamespace's: its layers (kept as
    they are when placement is not known yet) and its pod counts."""
    if report is None:
        previous = current.get("enforcementLayers") or []
        kept = [layer for layer in previous if layer in PLACEMENT_LAYERS]
        return {"enforcementLayers": [*layers, *(k for k in kept if k not in layers)]}
    return {
        "enforcementLayers": [*layers, *(k for k in report.layers if k not in layers)],
        "compliantPods": report.compliant_pods,
        "nonCompliantPods": report.non_compliant_pods,
    }
