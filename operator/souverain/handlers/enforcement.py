"""Sending the probes of :mod:`souverain.reconcile.enforcement` and waiting, a few seconds
at most, for the API server to refuse them all: what the operator just wrote reaches
admission a moment later."""

from __future__ import annotations

import json
import re
import time
from collections.abc import Iterator
from typing import Any, Final

from souverain.admission.policy import PROBE_USER
from souverain.api import SovereigntyProfileSpec
from souverain.kinds import KINDS
from souverain.reconcile.enforcement import (
    Answer,
    Enforcement,
    Verdict,
    authorized,
    judge_all,
)
from souverain.reconcile.placement import placement_layers
from souverain.reconcile.probe_objects import Probe
from souverain.reconcile.probes import plan_probes
from souverain.runtime.context import Context

PATIENCE_SECONDS: Final = 15.0
"""How long one converge asks again before it reports the layers not in force (and is
tried again later)."""
_FIRST_PAUSE: Final = 0.05
_LONGEST_PAUSE: Final = 0.5


def ask(context: Context, probe: Probe) -> Answer:
    """The API server's answer to one probe: a create (``POST``), a ``DELETE`` or a merge
    ``PATCH``, sent as a server-side dry run, as :data:`PROBE_USER`. Admission answers it
    as it would the real request, and nothing is stored."""
    target = KINDS[probe.kind]
    path = target.path(probe.name if probe.method != "POST" else None, probe.namespace)
    headers = {"Impersonate-User": PROBE_USER}
    if probe.method == "PATCH":
        headers["Content-Type"] = "application/merge-patch+json"
    status, answer_headers, data = context.api.send(
        probe.method, path, [("dryRun", "All")], probe.body, headers
    )
    try:
        decoded = json.loads(data) if data else None
    except ValueError:
        decoded = None
    found: dict[str, Any] = decoded if isinstance(decoded, dict) else {}
    message = ""
    if found.get("kind") == "Status":
        message = str(found.get("message") or "")
    elif not 200 <= status <= 299:
        message = data.decode(errors="replace")
    return Answer(
        status=status,
        message=message,
        warnings=tuple(
            warnings_of(answer_headers.get("Warning") if answer_headers is not None else None)
        ),
        body=found if found and 200 <= status <= 299 else None,
    )


def warnings_of(header: str | None) -> Iterator[str]:
    """The texts of a response's ``Warning`` header (``299 - "text"``; several are
    joined by commas in one value)."""
    for text in re.findall(r'\d{3} \S+ "((?:[^"\\]|\\.)*)"', header or ""):
        yield text.replace('\\"', '"')


def probes_of(
    context: Context, namespace: str, profile: str, spec: SovereigntyProfileSpec
) -> list[Probe]:
    """The probes of ``namespace`` for the layers this operator runs."""
    layers = placement_layers(
        native=context.webhook.native,
        mutating=context.api.serves("MutatingAdmissionPolicy"),
        enforced=spec.enforcement.mode == "Enforce",
        webhook=context.webhook.enabled,
    )
    return plan_probes(
        namespace,
        profile,
        spec,
        layers,
        native=context.webhook.native,
        snapshots=context.api.serves("VolumeSnapshot"),
    )


def verify(
    context: Context,
    namespace: str,
    profile: dict[str, Any],
    spec: SovereigntyProfileSpec,
    patience: float = PATIENCE_SECONDS,
) -> Enforcement:
    """Probes ``namespace`` until every layer refuses its escape with the profile's
    current generation, or ``patience`` seconds pass: the verdicts of the last round.
    A layer seen in force is not asked again in the same call."""
    name = profile["metadata"]["name"]
    generation = profile["metadata"].get("generation")
    probes = probes_of(context, namespace, name, spec)
    verdicts: dict[int, Verdict] = {}
    pending = list(range(len(probes)))
    granted = False
    deadline = time.monotonic() + patience
    pause = _FIRST_PAUSE
    while True:
        answers = [ask(context, probes[i]) for i in pending]
        round_ = judge_all([probes[i] for i in pending], answers, spec, granted=granted)
        granted = granted or any(authorized(answer) for answer in answers)
        verdicts.update(zip(pending, round_.verdicts, strict=True))
        found = Enforcement([verdicts[i] for i in range(len(probes))]).at_generation(generation)
        pending = [i for i, verdict in enumerate(found.verdicts) if not verdict.in_force]
        if not pending or time.monotonic() >= deadline or context.stop.is_set():
            return found
        time.sleep(pause)
        pause = min(pause * 2, _LONGEST_PAUSE)


def granted(context: Context, namespace: str, subject: dict[str, Any]) -> bool:
    """Whether the authorizer lets ``subject`` (of a RoleBinding) create pods in
    ``namespace`` now: a SubjectAccessReview, answered from the authorizer's own view."""
    spec: dict[str, Any] = {
        "resourceAttributes": {"namespace": namespace, "verb": "create", "resource": "pods"}
    }
    if subject["kind"] == "Group":
        spec["groups"] = [subject["name"]]
    elif subject["kind"] == "ServiceAccount":
        spec["user"] = f"system:serviceaccount:{subject['namespace']}:{subject['name']}"
    else:
        spec["user"] = subject["name"]
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview", "spec": spec}
    status, _, data = context.api.send(
        "POST", "/apis/authorization.k8s.io/v1/subjectaccessreviews", [], review, {}
    )
    if not 200 <= status <= 299:
        return False
    return bool((json.loads(data).get("status") or {}).get("allowed"))


def wait_granted(
    context: Context, namespace: str, subject: dict[str, Any], patience: float = PATIENCE_SECONDS
) -> bool:
    """Waits, ``patience`` seconds at most, until a RoleBinding just written grants its
    first subject: so that owners can act in a namespace from the moment it is Ready."""
    deadline = time.monotonic() + patience
    pause = _FIRST_PAUSE
    while not granted(context, namespace, subject):
        if time.monotonic() >= deadline or context.stop.is_set():
            return False
        time.sleep(pause)
        pause = min(pause * 2, _LONGEST_PAUSE)
    return True


def wait_unloaded(
    context: Context,
    namespace: str,
    profile: dict[str, Any],
    spec: SovereigntyProfileSpec,
    binding: str,
    patience: float = PATIENCE_SECONDS,
) -> bool:
    """Waits, ``patience`` seconds at most, until the API server no longer refuses the
    escape of ``binding`` in ``namespace`` as that binding: it reloads its policies once
    a second at most, so a binding just deleted still refuses for a while. Put back
    before that, a refusal could come from the binding being unloaded, and be followed
    by a second with none."""
    name = profile["metadata"]["name"]
    probes = [p for p in probes_of(context, namespace, name, spec) if p.layer == binding]
    if not probes:
        return True
    deadline = time.monotonic() + patience
    pause = _FIRST_PAUSE
    while not context.stop.is_set():
        answer = ask(context, probes[0])
        verdict = judge_all(probes[:1], [answer], spec).verdicts[0]
        if not verdict.in_force and verdict.settled:
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(pause)
        pause = min(pause * 2, _LONGEST_PAUSE)
    return False
