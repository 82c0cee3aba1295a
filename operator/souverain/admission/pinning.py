"""Pinning pods to the nodes a profile qualifies, as pure functions.

Pinning ANDs the profile's node requirements into every term of the pod's required
node affinity (terms are ORed, so a requirement added to only some of them would leave
a way out), gives a pod without one a single term, and adds the profile's tolerations.
It never removes or loosens what the pod asked for: a term with no requirement at all
matches no node and is left so.

The operator's webhooks call :func:`pin` and :func:`refusals` with a :class:`Pinning`
computed once per profile; :mod:`souverain.admission.placement` says the same rules in
CEL for the API server.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any, Final

import orjson

from souverain.api import SovereigntyProfileSpec

REQUIRED_PATH: Final = "spec.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution"

Requirement = dict[str, Any]
Toleration = dict[str, Any]


@dataclass(frozen=True)
class Pinning:
    """What a profile adds to pods, as pod-spec fragments (computed once per profile)."""

    profile: str
    requirements: tuple[Requirement, ...]
    tolerations: tuple[Toleration, ...]
    enforced: bool

    @property
    def requirement_text(self) -> str:
        """The requirements as a person reads them: ``key In (a, b)``, ``key Exists``."""
        return ", ".join(_describe(requirement) for requirement in self.requirements)

    @cached_property
    def unpinned_patch(self) -> str:
        """The patch of a pod without affinity that has the profile's tolerations
        already, as a review carries it: the same for every such pod, encoded once."""
        return encoded(
            [{"op": "add", "path": "/spec/affinity", "value": pin({}, self)["affinity"]}]
        )


def pinning(profile: str, spec: SovereigntyProfileSpec) -> Pinning:
    """The pod-spec fragments of a profile: node selector requirements and tolerations."""
    requirements = tuple(
        {"key": r.key, "operator": r.operator, **({"values": list(r.values)} if r.values else {})}
        for r in spec.node_requirements
    )
    tolerations = tuple(
        toleration.model_dump(by_alias=True, exclude_none=True) for toleration in spec.tolerations
    )
    return Pinning(profile, requirements, tolerations, spec.enforcement.mode == "Enforce")


def _describe(requirement: Mapping[str, Any]) -> str:
    values = requirement.get("values") or []
    suffix = f" ({', '.join(values)})" if values else ""
    return f"{requirement['key']} {requirement['operator']}{suffix}"


def _same_requirement(expression: Mapping[str, Any], requirement: Requirement) -> bool:
    return (
        expression.get("key") == requirement["key"]
        and expression.get("operator") == requirement["operator"]
        and set(expression.get("values") or ()) == set(requirement.get("values") or ())
    )


def _term_pinned(term: Mapping[str, Any], requirements: Sequence[Requirement]) -> bool:
    """Whether a term carries every requirement, or matches no node at all (no requirement)."""
    expressions = term.get("matchExpressions") or []
    if not expressions and not term.get("matchFields"):
        return True
    return all(any(_same_requirement(e, r) for e in expressions) for r in requirements)


def _required_terms(pod_spec: Mapping[str, Any]) -> list[dict[str, Any]] | None:
    affinity = (pod_spec.get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms")
    return list(terms) if terms else None


def is_pinned(pod_spec: Mapping[str, Any], pins: Pinning) -> bool:
    """Whether the pod can only be scheduled on nodes that meet the profile's requirements."""
    terms = _required_terms(pod_spec)
    return terms is not None and all(_term_pinned(term, pins.requirements) for term in terms)


def _pinned_term(term: Mapping[str, Any], requirements: Sequence[Requirement]) -> dict[str, Any]:
    if _term_pinned(term, requirements):
        return dict(term)
    expressions = list(term.get("matchExpressions") or [])
    missing = [r for r in requirements if not any(_same_requirement(e, r) for e in expressions)]
    return {**term, "matchExpressions": [*expressions, *(dict(r) for r in missing)]}


def pin(pod_spec: Mapping[str, Any], pins: Pinning) -> dict[str, Any]:
    """The pod spec with the profile's requirements in every required node-affinity term
    and its tolerations added; everything else is as it was."""
    spec = dict(pod_spec)
    terms = _required_terms(pod_spec)
    if terms is None:
        pinned_terms = [{"matchExpressions": [dict(r) for r in pins.requirements]}]
    else:
        pinned_terms = [_pinned_term(term, pins.requirements) for term in terms]
    if terms != pinned_terms:
        affinity = dict(spec.get("affinity") or {})
        node_affinity = dict(affinity.get("nodeAffinity") or {})
        required = dict(node_affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {})
        required["nodeSelectorTerms"] = pinned_terms
        node_affinity["requiredDuringSchedulingIgnoredDuringExecution"] = required
        affinity["nodeAffinity"] = node_affinity
        spec["affinity"] = affinity
    tolerations = list(spec.get("tolerations") or [])
    missing = [dict(t) for t in pins.tolerations if t not in tolerations]
    if missing:
        spec["tolerations"] = [*tolerations, *missing]
    return spec


def pin_patch(
    pod_spec: Mapping[str, Any], pins: Pinning, pinned: Mapping[str, Any] | None = None
) -> list[dict[str, Any]]:
    """The JSON patch that turns the pod into its pinned form (empty when it is already);
    ``pinned`` is that form when the caller has it already."""
    pinned = pin(pod_spec, pins) if pinned is None else pinned
    return [
        {"op": "add", "path": f"/spec/{field}", "value": pinned[field]}
        for field in ("affinity", "tolerations")
        if pinned.get(field) != pod_spec.get(field)
    ]


def encoded(patch: list[dict[str, Any]]) -> str:
    """A JSON patch as an AdmissionReview response carries it: base64 of its JSON."""
    return base64.b64encode(orjson.dumps(patch)).decode()


def encoded_patch(
    pod_spec: Mapping[str, Any], pins: Pinning, pinned: Mapping[str, Any]
) -> str | None:
    """The patch of :func:`pin_patch` as a review carries it, or None when the pod is
    pinned already; ``pinned`` is the pod's pinned form. Most pods have no affinity and
    have the profile's tolerations already (or it adds none): theirs is the profile's
    :attr:`Pinning.unpinned_patch`, encoded once."""
    if not pod_spec.get("affinity") and pinned.get("tolerations") == pod_spec.get("tolerations"):
        return pins.unpinned_patch
    patch = pin_patch(pod_spec, pins, pinned)
    return encoded(patch) if patch else None


def refusals(
    pod_spec: Mapping[str, Any],
    pins: Pinning,
    node_qualifies: Callable[[str], bool],
) -> list[str]:
    """Why the pod may not run in a namespace of the profile (empty when it may).

    ``node_qualifies`` says whether a node (by name) meets the profile's requirements;
    it is asked about a pod's ``spec.nodeName``, which is refused when the node does not
    qualify (the validating policy refuses every ``nodeName`` at creation; this lookup is
    what the operator's webhook adds).
    """
    found = []
    terms = _required_terms(pod_spec)
    if terms is None:
        found.append(
            f"{REQUIRED_PATH} is empty: add a nodeSelectorTerm requiring {pins.requirement_text}"
            f" (SovereigntyProfile {pins.profile})"
        )
    else:
        for index, term in enumerate(terms):
            if not _term_pinned(term, pins.requirements):
                found.append(
                    f"{REQUIRED_PATH}.nodeSelectorTerms[{index}] does not require"
                    f" {pins.requirement_text}: add it to every term"
                    f" (SovereigntyProfile {pins.profile})"
                )
    if pod_spec.get("hostNetwork"):
        found.append(
            "spec.hostNetwork is true, which bypasses the namespace's NetworkPolicies; remove it"
        )
    node = pod_spec.get("nodeName")
    if node and not node_qualifies(node):
        found.append(
            f"spec.nodeName {node} does not meet {pins.requirement_text}: remove it and let the"
            f" scheduler place the pod on a node of SovereigntyProfile {pins.profile}"
        )
    return found


def binding_refusal(node: str, pins: Pinning, node_qualifies: Callable[[str], bool]) -> str | None:
    """Why a ``pods/binding`` to ``node`` is refused, or None when the node qualifies."""
    if node_qualifies(node):
        return None
    return (
        f"node {node} does not meet {pins.requirement_text}: pods of namespaces bound to"
        f" SovereigntyProfile {pins.profile} run only on nodes that do"
    )
