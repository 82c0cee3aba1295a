"""Set-up (h) of tools/bench_placement.py: the admission mechanisms that souverain's pod
checks need, doing next to nothing.

A MutatingAdmissionPolicy cannot refuse a request and a ValidatingAdmissionPolicy cannot
change one, so pinning and refusing are two policies, and both read the profile (their
parameter) so that an edit of it takes effect with the operator stopped; the namespace
also carries the Pod Security level that souverain gives it, which the API server's own
PodSecurity admission checks. (h) has all of that with trivial expressions: a patch
that copies the profile's requirements and a validation that reads one field of each.
What (c) costs over (h) is what souverain's expressions cost; what (h) costs over (e)
is the price of the mechanisms.
"""

from __future__ import annotations

from typing import Any

from souverain import labels

MECHANISMS_FLOOR = "bench-mechanisms-floor"
_ADMISSION = "admissionregistration.k8s.io/v1"
_PODS = {"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"]}


def mechanisms_namespace(floor_label: str) -> dict[str, Any]:
    """The namespace of set-up (h), labelled as souverain labels a bound namespace's Pod
    Security level (baseline, latest)."""
    return {
        "metadata": {
            "name": MECHANISMS_FLOOR,
            "labels": {
                floor_label: "mechanisms",
                **labels.pod_security_labels("baseline", "latest"),
            },
        }
    }


_PATCH = (
    "[JSONPatch{op: 'add', path: '/spec/affinity', value: {'nodeAffinity':"
    " {'requiredDuringSchedulingIgnoredDuringExecution': {'nodeSelectorTerms':"
    " [{'matchExpressions': params.spec.nodeRequirements}]}}}}]"
)
"""The profile's node requirements as the pod's one node selector term."""


def mechanisms_floor(floor_label: str, profile: str) -> list[dict[str, Any]]:
    """A MutatingAdmissionPolicy writing the profile's node requirements as the pod's
    affinity, and a ValidatingAdmissionPolicy checking that the pod has one and the
    profile requirements, both with the SovereigntyProfile ``profile`` as parameter,
    bound to the namespaces labelled ``floor_label=mechanisms``. Each reads its
    parameter once, as any check of the profile must."""
    patch = _PATCH
    param = {"apiVersion": "souverain.io/v1alpha1", "kind": "SovereigntyProfile"}
    binding = {
        "policyName": MECHANISMS_FLOOR,
        "paramRef": {"name": profile, "parameterNotFoundAction": "Deny"},
        "matchResources": {"namespaceSelector": {"matchLabels": {floor_label: "mechanisms"}}},
    }
    constraints = {"resourceRules": [_PODS], "matchPolicy": "Equivalent"}
    return [
        {
            "apiVersion": _ADMISSION,
            "kind": "MutatingAdmissionPolicy",
            "metadata": {"name": MECHANISMS_FLOOR},
            "spec": {
                "failurePolicy": "Fail",
                "reinvocationPolicy": "Never",
                "paramKind": param,
                "matchConstraints": constraints,
                "mutations": [{"patchType": "JSONPatch", "jsonPatch": {"expression": patch}}],
            },
        },
        {
            "apiVersion": _ADMISSION,
            "kind": "MutatingAdmissionPolicyBinding",
            "metadata": {"name": MECHANISMS_FLOOR},
            "spec": binding,
        },
        {
            "apiVersion": _ADMISSION,
            "kind": "ValidatingAdmissionPolicy",
            "metadata": {"name": MECHANISMS_FLOOR},
            "spec": {
                "failurePolicy": "Fail",
                "paramKind": param,
                "matchConstraints": constraints,
                "validations": [
                    {
                        "expression": (
                            "has(object.spec.affinity) && size(params.spec.nodeRequirements) > 0"
                        ),
                        "message": "the pod is not pinned",
                    }
                ],
            },
        },
        {
            "apiVersion": _ADMISSION,
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {"name": MECHANISMS_FLOOR},
            "spec": {**binding, "validationActions": ["Deny"]},
        },
    ]
