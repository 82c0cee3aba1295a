"""Allowed storage classes in the API server: tenants cannot claim storage on a class their
profile does not allow.

Three static ValidatingAdmissionPolicies, one per kind of object that asks for a claim,
read the profile handed to them as their parameter:

- :data:`CLAIMS` refuses PersistentVolumeClaims whose ``storageClassName`` (after the
  cluster's default class is filled in) is missing or not in ``storage.allowedClasses``;
- :data:`STATEFULSETS` refuses StatefulSets whose ``volumeClaimTemplates`` name a class
  that is not allowed;
- :data:`EPHEMERAL_VOLUMES` refuses Pods whose generic ephemeral volumes name a class
  that is not allowed (pods of Deployments, Jobs and the like included).

Templates that name no class are let through: the claim made from them receives the
cluster's default class and is checked as a claim. One binding per profile and policy
selects the namespaces labelled with the profile; it refuses in Enforce mode and warns
and audits in Audit mode. Requests of the operator and of ``system:masters`` are not
checked, and updates only when they change a class. An empty ``allowedClasses`` refuses
every claim. Each policy is one kind, so that the API server type-checks every
expression against it; the CEL needs Kubernetes 1.30 (ValidatingAdmissionPolicy v1,
optional fields, ``join``).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, Final

from souverain import API_GROUP, API_VERSION
from souverain.api import SovereigntyProfileSpec
from souverain.labels import MANAGED_BY, MANAGED_BY_VALUE, PART_OF, PROFILE

CLAIMS: Final = "souverain-storage-claims"
STATEFULSETS: Final = "souverain-storage-statefulsets"
EPHEMERAL_VOLUMES: Final = "souverain-storage-ephemeral-volumes"
POLICY_NAMES: Final = (CLAIMS, STATEFULSETS, EPHEMERAL_VOLUMES)

CLUSTER_ADMINS: Final = "system:masters"
_MAX_NAME_LENGTH: Final = 253
_MAX_LABEL_VALUE_LENGTH: Final = 63
_HASH_LENGTH: Final = 10

_ALLOWS: Final = (
    "' allowed by SovereigntyProfile ' + params.metadata.name + ', which allows '"
    " + (size(variables.allowed) == 0 ? 'no storage class'"
    " : 'only ' + variables.allowed.join(', '))"
)

_COMMON_VARIABLES: Final = (("allowed", "params.spec.?storage.?allowedClasses.orValue([])"),)


def _cel_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _resource(group: str, resource: str, operations: list[str]) -> dict[str, Any]:
    return {
        "apiGroups": [group],
        "apiVersions": ["v1"],
        "operations": operations,
        "resources": [resource],
    }


_SPECS: Final[dict[str, dict[str, Any]]] = {
    CLAIMS: {
        "rule": _resource("", "persistentvolumeclaims", ["CREATE", "UPDATE"]),
        "changed": "object.spec.?storageClassName.orValue('')"
        " != oldObject.spec.?storageClassName.orValue('')",
        "variables": (("storageClass", "object.spec.?storageClassName.orValue('')"),),
        "validation": {
            "expression": "variables.storageClass in variables.allowed",
            "message": "this claim's storage class is not allowed by its namespace's profile",
            "messageExpression": (
                "(variables.storageClass == ''"
                " ? 'a PersistentVolumeClaim without spec.storageClassName is not'"
                " : 'spec.storageClassName ' + variables.storageClass + ' is not')"
                f" + {_ALLOWS}"
            ),
            "reason": "Forbidden",
        },
    },
    STATEFULSETS: {
        "rule": _resource("apps", "statefulsets", ["CREATE", "UPDATE"]),
        "changed": "object.spec.?volumeClaimTemplates.orValue([])"
        " != oldObject.spec.?volumeClaimTemplates.orValue([])",
        "variables": (
            (
                "refused",
                "object.spec.?volumeClaimTemplates.orValue([]).filter(template,"
                " template.?spec.?storageClassName.hasValue()"
                " && !(template.spec.storageClassName in variables.allowed))",
            ),
        ),
        "validation": {
            "expression": "size(variables.refused) == 0",
            "message": "a volumeClaimTemplate's storage class is not allowed by the profile",
            "messageExpression": (
                "'spec.volumeClaimTemplates ' + variables.refused[0].?metadata.?name.orValue('')"
                " + ': storageClassName ' + variables.refused[0].spec.storageClassName"
                f" + ' is not' + {_ALLOWS}"
            ),
            "reason": "Forbidden",
        },
    },
    EPHEMERAL_VOLUMES: {
        "rule": _resource("", "pods", ["CREATE"]),
        "changed": None,
        "variables": (
            (
                "refused",
                "object.spec.?volumes.orValue([]).filter(volume,"
                " volume.?ephemeral.?volumeClaimTemplate.?spec.?storageClassName.hasValue()"
                " && !(volume.ephemeral.volumeClaimTemplate.spec.storageClassName"
                " in variables.allowed))",
            ),
        ),
        "validation": {
            "expression": "size(variables.refused) == 0",
            "message": "an ephemeral volume's storage class is not allowed by the profile",
            "messageExpression": (
                "'spec.volumes ' + variables.refused[0].name"
                " + ': ephemeral.volumeClaimTemplate.spec.storageClassName '"
                " + variables.refused[0].ephemeral.volumeClaimTemplate.spec.storageClassName"
                f" + ' is not' + {_ALLOWS}"
            ),
            "reason": "Forbidden",
        },
    },
}


def _labels() -> dict[str, str]:
    return {MANAGED_BY: MANAGED_BY_VALUE, PART_OF: MANAGED_BY_VALUE}


def storage_policies(operator_username: str) -> list[dict[str, Any]]:
    """The three ValidatingAdmissionPolicies that refuse storage classes a profile does not
    allow. Requests from ``operator_username`` and from ``system:masters`` pass; the
    policies do nothing until bindings from :func:`storage_bindings` hand them a profile."""
    policies = []
    for name in POLICY_NAMES:
        spec = _SPECS[name]
        conditions = [
            {
                "name": "not-the-operator",
                "expression": f"request.userInfo.username != {_cel_string(operator_username)}",
            },
            {
                "name": "not-a-cluster-admin",
                "expression": (
                    "!has(request.userInfo.groups)"
                    f" || !({_cel_string(CLUSTER_ADMINS)} in request.userInfo.groups)"
                ),
            },
        ]
        if spec["changed"]:
            conditions.append(
                {
                    "name": "class-written",
                    "expression": f"request.operation != 'UPDATE' || {spec['changed']}",
                }
            )
        policies.append(
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicy",
                "metadata": {"name": name, "labels": _labels()},
                "spec": {
                    "failurePolicy": "Fail",
                    "paramKind": {
                        "apiVersion": f"{API_GROUP}/{API_VERSION}",
                        "kind": "SovereigntyProfile",
                    },
                    "matchConstraints": {
                        "resourceRules": [spec["rule"]],
                        "matchPolicy": "Equivalent",
                        "namespaceSelector": {
                            "matchExpressions": [{"key": PROFILE, "operator": "Exists"}]
                        },
                    },
                    "matchConditions": conditions,
                    "variables": [
                        {"name": variable, "expression": expression}
                        for variable, expression in (*_COMMON_VARIABLES, *spec["variables"])
                    ],
                    "validations": [spec["validation"]],
                },
            }
        )
    return policies


def storage_binding_name(policy_name: str, profile_name: str) -> str:
    """The name of the binding of ``policy_name`` for ``profile_name``: readable, unique,
    and a valid object name for any profile name (long ones are cut and end with a hash)."""
    name = f"{policy_name}-{profile_name}"
    if len(name) <= _MAX_NAME_LENGTH:
        return name
    digest = hashlib.sha256(profile_name.encode()).hexdigest()[:_HASH_LENGTH]
    kept = name[: _MAX_NAME_LENGTH - _HASH_LENGTH - 1].rstrip(".-")
    return f"{kept}-{digest}"


def storage_bindings(
    profile_name: str, spec: SovereigntyProfileSpec | None
) -> list[dict[str, Any]]:
    """The bindings of the three policies for one profile; with ``spec`` None, only their
    kinds and names (enough to delete them)."""
    if spec is None:
        return [
            {
                "apiVersion": "admissionregistration.k8s.io/v1",
                "kind": "ValidatingAdmissionPolicyBinding",
                "metadata": {"name": storage_binding_name(policy, profile_name)},
            }
            for policy in POLICY_NAMES
        ]
    if len(profile_name) > _MAX_LABEL_VALUE_LENGTH:
        raise ValueError(
            f"SovereigntyProfile {profile_name!r} cannot be bound to namespaces: the "
            f"{PROFILE} label value holds at most {_MAX_LABEL_VALUE_LENGTH} characters"
        )
    actions = ["Deny"] if spec.enforcement.mode == "Enforce" else ["Warn", "Audit"]
    return [
        {
            "apiVersion": "admissionregistration.k8s.io/v1",
            "kind": "ValidatingAdmissionPolicyBinding",
            "metadata": {
                "name": storage_binding_name(policy, profile_name),
                "labels": {**_labels(), PROFILE: profile_name},
            },
            "spec": {
                "policyName": policy,
                "paramRef": {"name": profile_name, "parameterNotFoundAction": "Deny"},
                "matchResources": {"namespaceSelector": {"matchLabels": {PROFILE: profile_name}}},
                "validationActions": actions,
            },
        }
        for policy in POLICY_NAMES
    ]
