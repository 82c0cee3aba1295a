"""Whether what protects a namespace is in force: the escapes the operator tries, as a
namespace owner would, and how it reads the API server's answers.

A guarantee is reported in force only once the API server has been seen refusing its
escape, never because the objects that should refuse it exist: a new binding, a new
namespace label or a new profile generation reaches the API server's admission a
moment after it is written. The operator impersonates :data:`PROBE_USER`, which holds
what the owners hold (the ``admin`` ClusterRole in the namespace), and sends each probe
as a server-side dry run, so that nothing is created or deleted.

Each probe (:mod:`souverain.reconcile.probes`) is refused by exactly one layer, which
its answer names.

Refusals of policies that read the profile end with the profile generation the API
server judged with (see :func:`souverain.admission.policy.echoing_generation`): a
changed profile is in force from the first probe answered with its generation.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from souverain.api import Condition, SovereigntyProfileSpec
from souverain.api import conditions as c
from souverain.reconcile.conditions import condition
from souverain.reconcile.probe_objects import Probe

_GENERATION: Final = re.compile(r"\[SovereigntyProfile \S+ generation (\d+)\]")
_AUTHORIZER: Final = re.compile(r'User "[^"]*" cannot ')


@dataclass(frozen=True)
class Answer:
    """What the API server said to a probe."""

    status: int
    message: str = ""
    warnings: tuple[str, ...] = ()
    body: Mapping[str, Any] | None = None


@dataclass(frozen=True)
class Verdict:
    """What one answer shows about the probe's layer."""

    probe: Probe
    in_force: bool
    why: str
    settled: bool = True
    """False when the answer says nothing about the layer yet (the probe's own grant or
    the namespace's ServiceAccount is not there yet): asked again, it may differ."""
    generation: int | None = None
    refusal: bool = False
    """The layer itself refused (or warned about) the escape."""


@dataclass
class Enforcement:
    """The verdicts of one round of probes and the condition they make."""

    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def in_force(self) -> bool:
        return all(v.in_force for v in self.verdicts)

    @property
    def settled(self) -> bool:
        return all(v.settled for v in self.verdicts)

    @property
    def failing(self) -> list[Verdict]:
        return [v for v in self.verdicts if not v.in_force]

    def at_generation(self, generation: int | None) -> Enforcement:
        """The verdicts, with the refusals of the layers that read the profile held to
        ``generation``: one that names an older generation is not in force yet. One that
        names none (its message was too long for the API server, which then says the
        policy's fixed message) counts once another refusal named ``generation``: the
        API server reads every binding's profile from one informer of profiles."""
        if generation is None:
            return self
        echoed = [v.generation for v in self.verdicts if v.in_force and v.generation is not None]
        current = bool(echoed) and min(echoed) >= generation
        held = []
        for verdict in self.verdicts:
            seen = verdict.generation
            if (
                not (verdict.in_force and verdict.probe.echoes_generation and verdict.refusal)
                or (seen is not None and seen >= generation)
                or (seen is None and current)
            ):
                held.append(verdict)
            else:
                named = f"generation {seen}" if seen is not None else "no generation"
                why = (
                    f"{verdict.probe.route} was refused naming SovereigntyProfile {named},"
                    f" not {generation}"
                )
                held.append(Verdict(verdict.probe, False, why, settled=False, generation=seen))
        return Enforcement(held)

    def profile_generation(self) -> int | None:
        """The oldest profile generation a refusal named (None when none named one)."""
        seen = [v.generation for v in self.verdicts if v.generation is not None]
        return min(seen) if seen else None

    def condition(
        self, generation: int | None, profile: str, now: datetime | None = None
    ) -> Condition:
        """``Enforced``: True once every layer refused its escape; otherwise False,
        naming each layer that did not and why."""
        if self.in_force:
            layers = ", ".join(sorted({v.probe.layer for v in self.verdicts}))
            seen = self.profile_generation()
            return condition(
                c.ENFORCED,
                "True",
                c.ESCAPES_REFUSED,
                f"The API server refused every escape probed, as the namespace's owners: {layers}"
                + (f" (SovereigntyProfile {profile} generation {seen})." if seen else "."),
                generation,
                now,
            )
        reason = c.PROBE_UNANSWERED if not self.settled else c.LAYER_NOT_IN_FORCE
        details = "; ".join(f"{v.probe.layer}: {v.why}" for v in self.failing)
        return condition(
            c.ENFORCED,
            "False",
            reason,
            f"Not every layer is in force yet: {details}",
            generation,
            now,
        )


def _pinned(pod: Mapping[str, Any], spec: SovereigntyProfileSpec) -> str | None:
    """Why ``pod`` is not pinned to ``spec``'s requirements and tolerations (None if it
    is). Read from the pod alone: every term requires each requirement as written."""
    wanted = [r.model_dump(by_alias=True, exclude_none=True) for r in spec.node_requirements]
    affinity = ((pod.get("spec") or {}).get("affinity") or {}).get("nodeAffinity") or {}
    required = affinity.get("requiredDuringSchedulingIgnoredDuringExecution") or {}
    terms = required.get("nodeSelectorTerms") or []
    if not terms:
        return "a plain pod was admitted without required node affinity"
    for index, term in enumerate(terms):
        expressions = term.get("matchExpressions") or []
        for requirement in wanted:
            if not any(_same(requirement, e) for e in expressions):
                return (
                    f"a plain pod was admitted with nodeSelectorTerms[{index}] lacking "
                    f"{requirement['key']} {requirement['operator']}"
                )
    tolerations = (pod.get("spec") or {}).get("tolerations") or []
    for toleration in spec.tolerations:
        wanted_toleration = toleration.model_dump(by_alias=True, exclude_none=True)
        if not any(all(t.get(k) == v for k, v in wanted_toleration.items()) for t in tolerations):
            return f"a plain pod was admitted without the toleration of {wanted_toleration}"
    return None


def _same(wanted: Mapping[str, Any], found: Mapping[str, Any]) -> bool:
    return (
        wanted["key"] == found.get("key")
        and wanted["operator"] == found.get("operator")
        and sorted(wanted.get("values") or []) == sorted(found.get("values") or [])
    )


def authorized(answer: Answer) -> bool:
    """Whether the request got past the authorizer (whatever admission said after)."""
    return not (answer.status == 403 and _AUTHORIZER.search(answer.message))


def judge(
    probe: Probe, answer: Answer, spec: SovereigntyProfileSpec, *, granted: bool = False
) -> Verdict:
    """What ``answer`` shows about ``probe``'s layer. With ``granted`` (the probe's grant
    was seen in force before this answer), an authorizer's refusal means the owners'
    role does not allow the request at all: nothing is left for the layer to refuse."""
    if not authorized(answer):
        if granted:
            return Verdict(probe, True, f"the owners' role does not allow {probe.route}")
        return Verdict(
            probe, False, f"the probe's grant is not in force yet: {answer.message}", settled=False
        )
    if answer.status == 403 and "error looking up service account" in answer.message:
        return Verdict(
            probe,
            False,
            "the namespace has no default ServiceAccount yet (the controller-manager makes it)",
            settled=False,
        )
    if probe.expect == "pinned":
        if not 200 <= answer.status <= 299:
            return Verdict(probe, False, f"a plain pod was refused: {answer.message}")
        why = _pinned(answer.body or {}, spec)
        return Verdict(probe, why is None, why or "a plain pod came back pinned")
    named = [answer.message] if answer.status == 403 else list(answer.warnings)
    by_layer = [text for text in named if probe.answered_by in text]
    if not by_layer:
        if 200 <= answer.status <= 299:
            return Verdict(probe, False, f"{probe.route} was admitted")
        return Verdict(
            probe, False, f"{probe.route} was refused by another check: {answer.message}"
        )
    generation = None
    if probe.echoes_generation:
        found = _GENERATION.search(by_layer[0])
        generation = int(found[1]) if found else None
    return Verdict(probe, True, f"{probe.route} was refused", generation=generation, refusal=True)


def judge_all(
    probes: Sequence[Probe],
    answers: Sequence[Answer],
    spec: SovereigntyProfileSpec,
    *,
    granted: bool = False,
) -> Enforcement:
    """The verdicts of a round, whose answers came in order; ``granted``: the probe's
    grant was seen in force before the round (an answer that got past the authorizer)."""
    verdicts = []
    for probe, answer in zip(probes, answers, strict=True):
        verdicts.append(judge(probe, answer, spec, granted=granted))
        granted = granted or authorized(answer)
    return Enforcement(verdicts)
