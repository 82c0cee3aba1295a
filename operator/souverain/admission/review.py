"""The answers of the operator's placement webhooks, as a pure function.

:func:`review` takes an AdmissionReview request and what the operator knows of the
request's namespace (its profile's :class:`~souverain.admission.pinning.Pinning` and
which nodes qualify) and returns the AdmissionReview response, with the outcome the
metrics count. It makes no API call: the caller looks everything up in its snapshot.
:func:`malformation` says first whether a decoded body is a review :func:`review` can
answer at all.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from souverain.admission.pinning import Pinning, binding_refusal, encoded_patch, pin, refusals

PIN_WEBHOOK: Final = "pin"
BINDING_WEBHOOK: Final = "binding"
WEBHOOKS: Final = (PIN_WEBHOOK, BINDING_WEBHOOK)
REVIEW_VERSIONS: Final = ("admission.k8s.io/v1", "admission.k8s.io/v1beta1")
OPERATIONS: Final = ("CREATE", "UPDATE", "DELETE", "CONNECT")

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
        patch = encoded_patch(original, pins, spec)
        if patch is not None:
            response["patchType"] = "JSONPatch"
            response["patch"] = patch
            return "patched"
    return "allowed"


class _MalformedError(Exception):
    """A field of a review is not what the answer reads it as."""


_TYPE_NAMES: Final[dict[type, str]] = {
    dict: "an object",
    list: "a list",
    str: "a string",
    bool: "a boolean",
}


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return _TYPE_NAMES.get(type(value), "a value")


def _field(
    obj: Mapping[str, Any], key: str, kind: type, where: str, *, required: bool = False
) -> Any:
    """``obj[key]`` when it is of ``kind``; None when it is absent or null and may be."""
    value = obj.get(key)
    if value is None and not required:
        return None
    if key not in obj:
        raise _MalformedError(f"{where}{key} is missing: it must be {_TYPE_NAMES[kind]}")
    if not isinstance(value, kind):
        raise _MalformedError(
            f"{where}{key} must be {_TYPE_NAMES[kind]} (it is {_json_type(value)})"
        )
    return value


def _each(values: list[Any], kind: type, where: str) -> list[tuple[str, Any]]:
    """The items of a list with the path of each, when every one is of ``kind``."""
    for index, value in enumerate(values):
        if not isinstance(value, kind):
            raise _MalformedError(
                f"{where}[{index}] must be {_TYPE_NAMES[kind]} (it is {_json_type(value)})"
            )
    return [(f"{where}[{index}].", value) for index, value in enumerate(values)]


def _check_pod_spec(spec: Mapping[str, Any], where: str) -> None:
    _field(spec, "containers", list, where)
    _field(spec, "nodeName", str, where)
    _field(spec, "hostNetwork", bool, where)
    _each(_field(spec, "tolerations", list, where) or [], dict, f"{where}tolerations")
    affinity = _field(spec, "affinity", dict, where) or {}
    where = f"{where}affinity."
    node_affinity = _field(affinity, "nodeAffinity", dict, where) or {}
    where = f"{where}nodeAffinity."
    required_key = "requiredDuringSchedulingIgnoredDuringExecution"
    required = _field(node_affinity, required_key, dict, where) or {}
    where = f"{where}{required_key}."
    terms = _field(required, "nodeSelectorTerms", list, where) or []
    for at_term, term in _each(terms, dict, f"{where}nodeSelectorTerms"):
        _field(term, "matchFields", list, at_term)
        expressions = _field(term, "matchExpressions", list, at_term) or []
        for at, expression in _each(expressions, dict, f"{at_term}matchExpressions"):
            _field(expression, "key", str, at)
            _field(expression, "operator", str, at)
            _each(_field(expression, "values", list, at) or [], str, f"{at}values")


def malformation(webhook: str, body: object) -> str | None:
    """What makes ``body`` (decoded JSON) a request that :func:`review` cannot answer for
    ``webhook``, as the path of the first wrong field and what it must be; None when it
    is well formed.

    Only what the answer reads is checked: the review's kind, version and uid, the
    request's namespace and operation, and the parts of the object that pinning or the
    binding check look at. The API server always sends these right; anything else is
    not a review from it.
    """
    try:
        if not isinstance(body, dict):
            raise _MalformedError(f"the body must be an object (it is {_json_type(body)})")
        if body.get("kind") != "AdmissionReview":
            raise _MalformedError("kind must be AdmissionReview")
        if body.get("apiVersion") not in REVIEW_VERSIONS:
            raise _MalformedError(f"apiVersion must be {' or '.join(REVIEW_VERSIONS)}")
        request = _field(body, "request", dict, "", required=True)
        _field(request, "uid", str, "request.", required=True)
        _field(request, "namespace", str, "request.", required=True)
        if _field(request, "operation", str, "request.") not in (None, *OPERATIONS):
            raise _MalformedError(f"request.operation must be one of {', '.join(OPERATIONS)}")
        obj = _field(request, "object", dict, "request.", required=True)
        if webhook == BINDING_WEBHOOK:
            target = _field(obj, "target", dict, "request.object.", required=True)
            _field(target, "name", str, "request.object.target.", required=True)
        else:
            spec = _field(obj, "spec", dict, "request.object.") or {}
            _check_pod_spec(spec, "request.object.spec.")
    except _MalformedError as problem:
        return str(problem)
    return None
