"""The answers of the operator's placement webhooks, as a pure function.

:func:`review` takes an AdmissionReview request and what the operator knows of the
request's namespace (its profile's :class:`~souverain.admission.pinning.Pinning` and
which nodes qualify) and returns the AdmissionReview response, with the outcome the
metrics count. It makes no API call: the caller looks everything up in its snapshot.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from souverain.admission.pinning import Pinning, binding_refusal, pin, pin_patch, refusals

PIN_WEBHOOK: Final = "pin"
BINDING_WEBHOOK: Final = "binding"
WEBHOOKS: Final = (PIN_WEBHOOK, BINDING_WEBHOOK)

Outcome = Literal["allowed", "patched", "warned", "refused"]


@dataclass(frozen=True)
class Placement:
    """What a review needs to know about a bound namespace."""

    pins: Pinning
    qualifies: Callable[[str], bool]
    """Whether a node, by name, meets the profile's requirements now."""


def review(
    webhook: str, request: Mapping[str, Any], placement: Placement | None, *, ready: bool
) -> tuple[dict[str, Any], Outcome]:
    """The AdmissionReview answering ``request`` for the webhook ``webhook``.

    ``placement`` is None when the namespace is not bound to a profile (or its profile
    is gone or unreadable); ``ready`` says whether the caller's snapshot is complete. A
    request for an unknown namespace before then is refused with 503: it may be a bound
    namespace the snapshot does not know yet.
    """
    payload = request.get("request") or {}
    response: dict[str, Any] = {"uid": payload.get("uid", ""), "allowed": True}
    outcome: Outcome = "allowed"
    if placement is None and not ready:
        response["allowed"] = False
        response["status"] = {"code": 503, "message": "souverain is starting; try again"}
        outcome = "refused"
    elif placement is not None:
        outcome = _decide(webhook, payload, placement, response)
    answer = {
        "apiVersion": request.get("apiVersion", "admission.k8s.io/v1"),
        "kind": "AdmissionReview",
        "response": response,
    }
    return answer, outcome


def _decide(
    webhook: str, payload: Mapping[str, Any], placement: Placement, response: dict[str, Any]
) -> Outcome:
    pins = placement.pins
    obj = payload.get("object") or {}
    original = spec = obj.get("spec") or {}
    if webhook == BINDING_WEBHOOK:
        target = (obj.get("target") or {}).get("name", "")
        refusal = binding_refusal(target, pins, placement.qualifies)
        found = [refusal] if refusal else []
    else:
        if pins.enforced:
            # What pinning cannot mend is refused: host network, a node that does not
            # qualify. In Audit mode nothing is pinned, so an unpinned pod is reported.
            spec = pin(spec, pins)
        found = refusals(spec, pins, placement.qualifies)
    if found and pins.enforced:
        response["allowed"] = False
        response["status"] = {"code": 403, "reason": "Forbidden", "message": "; ".join(found)}
        return "refused"
    if found:
        response["warnings"] = [f"SovereigntyProfile {pins.profile} (Audit): {f}" for f in found]
        return "warned"
    if webhook == PIN_WEBHOOK and pins.enforced:
        patch = pin_patch(original, pins, spec)
        if patch:
            response["patchType"] = "JSONPatch"
            response["patch"] = base64.b64encode(json.dumps(patch).encode()).decode()
            return "patched"
    return "allowed"
