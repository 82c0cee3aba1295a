"""Placement in admission: pods of bound namespaces are pinned to the nodes their
profile qualifies, and pods that are not are refused.

The rules of :mod:`souverain.admission.pinning` are served three ways:

- by the operator's webhooks (:func:`webhook_configurations`), which call them directly;
- a static ``MutatingAdmissionPolicy`` (:data:`MUTATING_POLICY_NAME`, JSON patches in
  CEL) and a static ``ValidatingAdmissionPolicy`` (:data:`VALIDATING_POLICY_NAME`), each
  with ``paramKind: SovereigntyProfile`` and one binding per profile selecting the
  namespaces labelled ``souverain.io/profile=<profile>``. They hold with the operator
  stopped. Validation refuses pods that are not pinned, that use ``hostNetwork`` or that
  name a node in ``spec.nodeName`` at creation (which skips the scheduler).

A profile in Audit mode pins nothing; its validating binding warns and audits instead of
refusing. ``ValidatingAdmissionPolicy`` is GA since Kubernetes 1.30 and
``MutatingAdmissionPolicy`` (``admissionregistration.k8s.io/v1``) since 1.36.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Final

from souverain import API_GROUP, API_VERSION
from souverain.admission import images, storage
from souverain.admission.pinning import REQUIRED_PATH
from souverain.admission.policy import (
    binding_name,
    bound_match,
    merged_policy,
    policy_labels,
    profile_namespaces,
    validation_actions,
)
from souverain.admission.policy import cel_string as _cel_string
from souverain.admission.review import BINDING_WEBHOOK, PIN_WEBHOOK
from souverain.api import SovereigntyProfileSpec
from souverain.api.names import NAMESPACE_NAME_LABEL
from souverain.labels import PROFILE

MUTATING_POLICY_NAME: Final = "souverain-placement-pinning"
VALIDATING_POLICY_NAME: Final = "souverain-placement"


# -- in the API server ----------------------------------------------------------


_SAME_REQUIREMENT: Final = (
    "e.key == r.key && e.operator == r.operator"
    " && e.?values.orValue([]).all(v, v in r.?values.orValue([]))"
    " && r.?values.orValue([]).all(v, v in e.?values.orValue([]))"
)
_TERM_PINNED: Final = (
    "(size(t.?matchExpressions.orValue([])) == 0 && size(t.?matchFields.orValue([])) == 0)"
    f" || variables.required.all(r, t.?matchExpressions.orValue([]).exists(e, {_SAME_REQUIREMENT}))"
)
_TERMS: Final = (
    "object.spec.?affinity.?nodeAffinity.?requiredDuringSchedulingIgnoredDuringExecution"
    ".?nodeSelectorTerms.orValue([])"
)
_REQUIRED_TEXT: Final = (
    "variables.required.map(r, r.key + ' ' + r.operator"
    " + (size(r.?values.orValue([])) > 0 ? ' (' + r.values.join(', ') + ')' : '')).join(', ')"
)

_COMMON_VARIABLES: Final = (
    ("profile", "params.metadata.name"),
    ("required", "params.spec.nodeRequirements"),
    ("terms", _TERMS),
)

_POD_RULES: Final = {
    "apiGroups": [""],
    "apiVersions": ["v1"],
    "operations": ["CREATE"],
    "resources": ["pods"],
}


def _policy_spec() -> dict[str, Any]:
    return {
        "failurePolicy": "Fail",
        "paramKind": {"apiVersion": f"{API_GROUP}/{API_VERSION}", "kind": "SovereigntyProfile"},
        "matchConstraints": bound_match([_POD_RULES]),
    }


_REQUIRED_FIELD: Final = "requiredDuringSchedulingIgnoredDuringExecution"
_NEW_TERMS: Final = "{'nodeSelectorTerms': [{'matchExpressions': variables.required}]}"


def _patch(path: str, value: str) -> str:
    """A CEL JSONPatch that adds (or replaces) ``path``; both are CEL expressions."""
    return "JSONPatch{op: 'add', path: " + path + ", value: " + value + "}"


def _nested(*keys: str, inner: str) -> str:
    for key in reversed(keys):
        inner = "{'" + key + "': " + inner + "}"
    return inner


_TERMS_PATH: Final = f"'/spec/affinity/nodeAffinity/{_REQUIRED_FIELD}/nodeSelectorTerms/'"
_MISSING: Final = (
    f"variables.required.filter(r, !t.?matchExpressions.orValue([]).exists(e, {_SAME_REQUIREMENT}))"
)

# JSON patches that pin the pod: the affinity is built where the pod has none, and
# otherwise each term that lacks a requirement gets its matchExpressions rewritten
# ("add" replaces a member that exists) with the missing requirements appended.
_PIN_AFFINITY: Final = (
    "!has(object.spec.affinity) ? ["
    + _patch("'/spec/affinity'", _nested("nodeAffinity", _REQUIRED_FIELD, inner=_NEW_TERMS))
    + "] : !has(object.spec.affinity.nodeAffinity) ? ["
    + _patch("'/spec/affinity/nodeAffinity'", _nested(_REQUIRED_FIELD, inner=_NEW_TERMS))
    + "] : size(variables.terms) == 0 ? ["
    + _patch(f"'/spec/affinity/nodeAffinity/{_REQUIRED_FIELD}'", _NEW_TERMS)
    + f"] : variables.terms.transformList(i, t, !({_TERM_PINNED}), "
    + _patch(
        _TERMS_PATH + " + string(i) + '/matchExpressions'",
        "t.?matchExpressions.orValue([]) + " + _MISSING,
    )
    + ")"
)
_PIN_TOLERATIONS: Final = (
    "params.spec.?tolerations.orValue([]).exists(w,"
    " !object.spec.?tolerations.orValue([]).exists(h, h == w))"
    " ? ["
    + _patch(
        "'/spec/tolerations'",
        "object.spec.?tolerations.orValue([]) + params.spec.tolerations.filter(w,"
        " !object.spec.?tolerations.orValue([]).exists(h, h == w))",
    )
    + "] : []"
)


def mutating_policy() -> dict[str, Any]:
    """The MutatingAdmissionPolicy that pins pods of bound namespaces on creation."""
    spec = _policy_spec()
    # Never: with IfNeeded the API server runs the admission chain's mutations again
    # after any policy patched the pod, this one included, so every pod would be pinned
    # twice. A later webhook that rewrites the pod's node affinity gets it refused by the
    # validating policy, which runs after every mutation, rather than pinned again.
    spec["reinvocationPolicy"] = "Never"
    spec["variables"] = [{"name": n, "expression": e} for n, e in _COMMON_VARIABLES]
    # One mutation, not one per field: each costs the API server a conversion of the pod.
    spec["mutations"] = [
        {
            "patchType": "JSONPatch",
            "jsonPatch": {"expression": f"({_PIN_AFFINITY}) + ({_PIN_TOLERATIONS})"},
        }
    ]
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicy",
        "metadata": {"name": MUTATING_POLICY_NAME, "labels": policy_labels()},
        "spec": spec,
    }


_VALIDATIONS: Final = (
    {
        "expression": f"size(variables.terms) > 0 && variables.terms.all(t, {_TERM_PINNED})",
        "messageExpression": (
            "size(variables.terms) == 0"
            f" ? {_cel_string(REQUIRED_PATH + ' is empty: add a nodeSelectorTerm requiring ')}"
            f" + {_REQUIRED_TEXT} + ' (SovereigntyProfile ' + variables.profile + ')'"
            f" : {_cel_string(REQUIRED_PATH + '.nodeSelectorTerms[')}"
            f" + variables.terms.transformList(i, t, !({_TERM_PINNED}), string(i)).join(', ')"
            f" + '] does not require ' + {_REQUIRED_TEXT}"
            " + ': add it to every term (SovereigntyProfile ' + variables.profile + ')'"
        ),
        "reason": "Forbidden",
    },
    {
        "expression": "!object.spec.?hostNetwork.orValue(false)",
        "message": (
            "spec.hostNetwork is true, which bypasses the namespace's NetworkPolicies; remove it"
        ),
        "reason": "Forbidden",
    },
    {
        "expression": "object.spec.?nodeName.orValue('') == ''",
        "messageExpression": (
            "'spec.nodeName ' + object.spec.nodeName + ' skips the scheduler; remove it and let"
            " the scheduler place the pod on a node of SovereigntyProfile ' + variables.profile"
        ),
        "reason": "Forbidden",
    },
)


def placement_checks() -> dict[str, Any]:
    """The placement checks alone, as a policy of their own (see :func:`validating_policy`)."""
    spec = _policy_spec()
    spec["variables"] = [{"name": n, "expression": e} for n, e in _COMMON_VARIABLES]
    spec["validations"] = [dict(v) for v in _VALIDATIONS]
    return {"metadata": {"name": VALIDATING_POLICY_NAME}, "spec": spec}


def validating_policy(operator_username: str) -> dict[str, Any]:
    """The ValidatingAdmissionPolicy of pods in bound namespaces: it refuses unpinned,
    host-network and ``nodeName`` pods, and makes the pod checks of
    :data:`souverain.admission.storage.POD_VOLUMES` and
    :data:`souverain.admission.images.PODS` in the same evaluation (each evaluation of a
    policy converts the pod and the profile again). Where the native placement layer
    is off, those two are bound on their own instead
    (:func:`souverain.reconcile.profile.admission_objects`)."""
    pods = {
        policy["metadata"]["name"]: policy
        for policy in (
            *storage.storage_policies(operator_username),
            *images.images_policies(operator_username),
        )
    }
    return merged_policy(
        VALIDATING_POLICY_NAME,
        {
            "placement": placement_checks(),
            "volumes": pods[storage.POD_VOLUMES],
            "images": pods[images.PODS],
        },
    )


def _binding_metadata(policy: str, profile: str) -> dict[str, Any]:
    return {"name": binding_name(policy, profile), "labels": {**policy_labels(), PROFILE: profile}}


def _binding_spec(policy: str, profile: str) -> dict[str, Any]:
    return {
        "policyName": policy,
        "paramRef": {"name": profile, "parameterNotFoundAction": "Deny"},
        "matchResources": profile_namespaces(profile),
    }


def mutating_binding(profile: str) -> dict[str, Any]:
    """The binding that pins pods of the profile's namespaces (Enforce mode only)."""
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingAdmissionPolicyBinding",
        "metadata": _binding_metadata(MUTATING_POLICY_NAME, profile),
        "spec": _binding_spec(MUTATING_POLICY_NAME, profile),
    }


def validating_binding(profile: str, spec: SovereigntyProfileSpec) -> dict[str, Any]:
    """The binding that refuses (Enforce) or warns about and audits (Audit) pods of the
    profile's namespaces that could run on nodes outside the profile."""
    enforced = spec.enforcement.mode == "Enforce"
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "ValidatingAdmissionPolicyBinding",
        "metadata": _binding_metadata(VALIDATING_POLICY_NAME, profile),
        "spec": {
            **_binding_spec(VALIDATING_POLICY_NAME, profile),
            "validationActions": validation_actions(enforced),
        },
    }


def profile_bindings(
    profile: str, spec: SovereigntyProfileSpec | None, *, native: bool = True, mutating: bool = True
) -> list[dict[str, Any]]:
    """The placement bindings of a profile: validation always, pinning in Enforce mode
    where the cluster serves MutatingAdmissionPolicy (``mutating``); none when ``native``
    is False. With ``spec`` None, every binding's kind and name (enough to delete them)."""
    if spec is None:
        return [
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": kind,
                "metadata": {"name": binding_name(policy, profile)},
            }
            for kind, policy in (
                ("ValidatingAdmissionPolicyBinding", VALIDATING_POLICY_NAME),
                ("MutatingAdmissionPolicyBinding", MUTATING_POLICY_NAME),
            )
        ]
    if not native:
        return []
    bindings = [validating_binding(profile, spec)]
    if mutating and spec.enforcement.mode == "Enforce":
        bindings.append(mutating_binding(profile))
    return bindings


# -- the operator's webhooks ----------------------------------------------------------

WEBHOOK_CONFIGURATION_NAME: Final = "souverain-placement"
SCHEDULER: Final = "system:kube-scheduler"
"""The scheduler binds pods only to nodes their (pinned, validated) affinity allows."""
SYSTEM_NAMESPACES: Final = ("kube-system", "kube-public", "kube-node-lease")
"""Namespaces no webhook of the operator's is ever called for, even if someone binds them."""


def webhook_scope(operator_namespace: str = "") -> dict[str, Any]:
    """The namespace selector of the operator's webhooks: namespaces bound to a profile,
    never the cluster's own nor the one the operator runs in, whatever their labels.

    A webhook that fails closed in the namespace of its own server is the classic
    deadlock: with the operator down, its own pods could not be made. An object selector
    would add nothing: the labels of a pod or a Binding are its writer's, so a tenant
    could use one to step out of scope."""
    kept_out = sorted({*SYSTEM_NAMESPACES, *([operator_namespace] if operator_namespace else [])})
    return {
        "matchExpressions": [
            {"key": PROFILE, "operator": "Exists"},
            {"key": NAMESPACE_NAME_LABEL, "operator": "NotIn", "values": kept_out},
        ]
    }


def webhook_configurations(
    client_config: Callable[[str], dict[str, Any]],
    *,
    pinning_is_native: bool,
    operator_namespace: str = "",
) -> list[dict[str, Any]]:
    """The MutatingWebhookConfiguration that pins (and refuses) pods, and the
    ValidatingWebhookConfiguration that refuses bindings to nodes that do not qualify,
    both called only for namespaced requests in namespaces of :func:`webhook_scope`.

    ``client_config(path)`` says how the API server reaches the webhook at ``path``. The
    pinning webhook fails open where a MutatingAdmissionPolicy pins pods anyway
    (``pinning_is_native``: the policy pins, and ``souverain-placement`` refuses what is
    not pinned) and closed elsewhere (it is then the only layer that pins). The binding
    webhook always fails closed, as no policy can look up a node's labels, and lets the
    scheduler's own bindings through, so that scheduling goes on while the operator is
    down: with the operator down, only a binding made by someone else than the
    scheduler in a bound namespace is refused.
    """
    common = {
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "timeoutSeconds": 5,
        "matchPolicy": "Equivalent",
        "namespaceSelector": webhook_scope(operator_namespace),
    }
    pin_webhook = {
        "name": f"{PIN_WEBHOOK}.placement.{API_GROUP}",
        "clientConfig": client_config(PIN_WEBHOOK),
        "rules": [{**_POD_RULES, "scope": "Namespaced"}],
        "failurePolicy": "Ignore" if pinning_is_native else "Fail",
        "reinvocationPolicy": "IfNeeded",
        **common,
    }
    binding_webhook = {
        "name": f"{BINDING_WEBHOOK}.placement.{API_GROUP}",
        "clientConfig": client_config(BINDING_WEBHOOK),
        # Bindings come through the pods/binding subresource or the older bindings
        # resource; both place a pod on a node.
        "rules": [{**_POD_RULES, "resources": ["pods/binding", "bindings"], "scope": "Namespaced"}],
        "failurePolicy": "Fail",
        "matchConditions": [
            {
                "name": "not-the-scheduler",
                "expression": f"request.userInfo.username != {_cel_string(SCHEDULER)}",
            }
        ],
        **common,
    }
    metadata = {"name": WEBHOOK_CONFIGURATION_NAME, "labels": policy_labels()}
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "MutatingWebhookConfiguration",
            "metadata": metadata,
            "webhooks": [pin_webhook],
        },
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingWebhookConfiguration",
            "metadata": dict(metadata),
            "webhooks": [binding_webhook],
        },
    ]
