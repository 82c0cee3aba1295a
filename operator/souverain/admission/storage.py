"""Resident storage in the API server: tenants cannot write data anywhere their profile
does not govern.

Static ValidatingAdmissionPolicies, one per shape of object that asks for storage, read
the profile handed to them as their parameter:

- :data:`CLAIMS` refuses PersistentVolumeClaims whose ``storageClassName`` (after the
  cluster's default class is filled in) is missing or not in ``storage.allowedClasses``,
  and claims that name their volume in ``spec.volumeName``: a volume chosen by name
  could sit anywhere, and the API server cannot look up where (the operator's
  ResidentVolumes and the volume controllers pass);
- :data:`STATEFULSETS` refuses StatefulSets whose ``volumeClaimTemplates`` name a class
  that is not allowed or a volume by name;
- :data:`POD_VOLUMES` refuses Pods with a volume that writes outside the governed
  claims: anything but ``persistentVolumeClaim``, ``ephemeral``, ``configMap``,
  ``secret``, ``downwardAPI``, ``projected``, ``emptyDir`` and ``image``, unless the
  profile's ``storage.allowedVolumeSources`` lists it (an NFS server, an inline CSI
  driver, a whole volume type), and generic ephemeral volumes of a class that is not
  allowed, naming a volume, or restoring from a snapshot they may not
  (:mod:`souverain.admission.restores`);
- :data:`WORKLOADS` and :data:`CRONJOBS` apply the same volume check to the pod
  templates of Deployments, ReplicaSets, StatefulSets, DaemonSets, Jobs,
  ReplicationControllers and CronJobs, so that a workload is refused when it is written,
  not later when its controller creates pods.

Templates that name no class are let through: the claim made from them receives the
cluster's default class and is checked as a claim. One binding per profile and policy
selects the namespaces labelled with the profile; it refuses in Enforce mode and warns
and audits in Audit mode. Requests of the operator and of ``system:masters`` are not
checked, and updates only when they change what is checked. An empty
``allowedClasses`` refuses every claim. Each policy is one shape of object, so that the
API server type-checks every expression against it; the CEL needs Kubernetes 1.33
(two-variable comprehensions, for the index of a refused volume).
"""

from __future__ import annotations

from typing import Any, Final, get_args

from souverain.admission.policy import (
    WRITES,
    binding_name,
    cel_string,
    namespace_bindings,
    profile_policy,
    refusals_validation,
    resource_rule,
    written_conditions,
)
from souverain.admission.restores import restore_refusal
from souverain.api import SovereigntyProfileSpec
from souverain.api.profile import VolumeType

CLAIMS: Final = "souverain-storage-claims"
STATEFULSETS: Final = "souverain-storage-statefulsets"
POD_VOLUMES: Final = "souverain-storage-pod-volumes"
WORKLOADS: Final = "souverain-storage-workloads"
CRONJOBS: Final = "souverain-storage-cronjobs"
POLICY_NAMES: Final = (CLAIMS, STATEFULSETS, POD_VOLUMES, WORKLOADS, CRONJOBS)

ALWAYS_ALLOWED: Final = (
    "persistentVolumeClaim",
    "ephemeral",
    "configMap",
    "secret",
    "downwardAPI",
    "projected",
    "emptyDir",
    "image",
)
"""Volume sources that write only to governed claims, the node's scratch space, or not at all."""

GOVERNED_ELSEWHERE: Final = tuple(get_args(VolumeType))
"""Volume sources refused unless the profile allows them."""

VOLUME_CONTROLLERS: Final = (
    "system:kube-controller-manager",
    "system:serviceaccount:kube-system:persistent-volume-binder",
)
"""The controller that binds claims sets ``spec.volumeName`` itself: it passes."""

_ALLOWS: Final = (
    "' allowed by SovereigntyProfile ' + params.metadata.name + ', which allows '"
    " + (size(variables.allowed) == 0 ? 'no storage class'"
    " : 'only ' + variables.allowed.join(', '))"
)
_SOURCES: Final = "params.spec.?storage.?allowedVolumeSources"
_COMMON_VARIABLES: Final = (
    ("allowed", "params.spec.?storage.?allowedClasses.orValue([])"),
    ("nfsServers", f"{_SOURCES}.?nfsServers.orValue([])"),
    ("csiDrivers", f"{_SOURCES}.?csiDrivers.orValue([])"),
    ("volumeTypes", f"{_SOURCES}.?types.orValue([])"),
)

# The volume `v`: whether its source is one a pod may use, and its name for people.
_SOURCE_ALLOWED: Final = (
    " || ".join(f"has(v.{source})" for source in ALWAYS_ALLOWED)
    + " || (has(v.nfs) && (v.nfs.server.lowerAscii() in variables.nfsServers"
    " || 'nfs' in variables.volumeTypes))"
    " || (has(v.csi) && (v.csi.driver in variables.csiDrivers || 'csi' in variables.volumeTypes))"
    " || (size(variables.volumeTypes) > 0 && ("
    + " || ".join(
        f"(has(v.{source}) && {cel_string(source)} in variables.volumeTypes)"
        for source in GOVERNED_ELSEWHERE
        if source not in ("nfs", "csi")
    )
    + "))"
)
_SOURCE_NAME: Final = (
    "".join(f"has(v.{source}) ? {cel_string(source)} : " for source in GOVERNED_ELSEWHERE)
    + "'a volume source souverain does not know'"
)
_CLAIM_TEMPLATE: Final = "v.ephemeral.volumeClaimTemplate.spec"
_EPHEMERAL_CLASS_REFUSED: Final = (
    f"has(v.ephemeral) && {_CLAIM_TEMPLATE}.?storageClassName.hasValue()"
    f" && !({_CLAIM_TEMPLATE}.storageClassName in variables.allowed)"
)
_TEMPLATE_PATH: Final = "ephemeral.volumeClaimTemplate.spec."
_EPHEMERAL_NAMED: Final = f"has(v.ephemeral) && {_CLAIM_TEMPLATE}.?volumeName.orValue('') != ''"
_NAMED_VOLUME: Final = (
    " names a volume, which could sit anywhere; only the operator and cluster"
    " administrators may bind a claim by name: remove it and let the claim bind through"
    " an allowed storage class"
)


def _volume_refusal(path: str) -> str:
    """CEL: why the volume ``v`` at index ``i`` under ``path`` is refused, or ''."""
    volume = f"{cel_string(path + '[')} + string(i) + '] ' + v.name + ': '"
    return (
        f"!({_SOURCE_ALLOWED})"
        f" ? {volume} + ({_SOURCE_NAME})"
        " + (has(v.nfs) ? ' server ' + v.nfs.server : has(v.csi) ? ' driver ' + v.csi.driver : '')"
        " + ' writes to storage that SovereigntyProfile ' + params.metadata.name"
        " + ' does not govern; use a persistentVolumeClaim or an ephemeral volume of an"
        " allowed class, or have the platform list it in"
        " spec.storage.allowedVolumeSources of the profile'"
        f" : {_EPHEMERAL_CLASS_REFUSED}"
        f" ? {volume} + 'ephemeral.volumeClaimTemplate.spec.storageClassName '"
        f" + {_CLAIM_TEMPLATE}.storageClassName + ' is not' + {_ALLOWS}"
        f" : {_EPHEMERAL_NAMED}"
        f" ? {volume} + 'ephemeral.volumeClaimTemplate.spec.volumeName '"
        f" + {_CLAIM_TEMPLATE}.volumeName + {cel_string(_NAMED_VOLUME)}"
        f" : has(v.ephemeral)"
        f" ? {restore_refusal(_CLAIM_TEMPLATE, volume + ' + ' + cel_string(_TEMPLATE_PATH))}"
        " : ''"
    )


def _volume_variables(volumes: str, path: str) -> tuple[tuple[str, str], ...]:
    return (
        ("volumes", f"{volumes}.orValue([])"),
        (
            "refusals",
            f"variables.volumes.transformList(i, v, {_volume_refusal(path)})"
            ".filter(refusal, refusal != '')",
        ),
    )


_VOLUMES_VALIDATION: Final = refusals_validation(
    "a volume writes outside the storage its namespace's profile allows"
)


_TEMPLATE_VOLUMES: Final = "object.spec.?template.?spec.?volumes"
_JOB_TEMPLATE_VOLUMES: Final = "object.spec.jobTemplate.spec.template.spec.?volumes"

_SPECS: Final[dict[str, dict[str, Any]]] = {
    CLAIMS: {
        "rules": [resource_rule("", ["persistentvolumeclaims"], WRITES)],
        "changed": "object.spec.?storageClassName.orValue('')"
        " != oldObject.spec.?storageClassName.orValue('')"
        " || object.spec.?volumeName.orValue('') != oldObject.spec.?volumeName.orValue('')",
        "trusted": VOLUME_CONTROLLERS,
        "variables": (("storageClass", "object.spec.?storageClassName.orValue('')"),),
        "validations": [
            {
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
            {
                "expression": "object.spec.?volumeName.orValue('') == ''"
                " || (request.operation == 'UPDATE'"
                " && oldObject.spec.?volumeName.orValue('') == object.spec.volumeName)",
                "messageExpression": (
                    f"'spec.volumeName ' + object.spec.volumeName + {cel_string(_NAMED_VOLUME)}"
                ),
                "reason": "Forbidden",
            },
        ],
    },
    STATEFULSETS: {
        "rules": [resource_rule("apps", ["statefulsets"], WRITES)],
        "changed": "object.spec.?volumeClaimTemplates.orValue([])"
        " != oldObject.spec.?volumeClaimTemplates.orValue([])",
        "variables": (
            (
                "refused",
                "object.spec.?volumeClaimTemplates.orValue([]).filter(template,"
                " (template.?spec.?storageClassName.hasValue()"
                " && !(template.spec.storageClassName in variables.allowed))"
                " || template.?spec.?volumeName.orValue('') != '')",
            ),
        ),
        "validations": [
            {
                "expression": "size(variables.refused) == 0",
                "message": "a volumeClaimTemplate asks for storage the profile does not allow",
                "messageExpression": (
                    "'spec.volumeClaimTemplates '"
                    " + variables.refused[0].?metadata.?name.orValue('') + ': '"
                    " + (variables.refused[0].?spec.?volumeName.orValue('') != ''"
                    " ? 'spec.volumeName ' + variables.refused[0].spec.volumeName"
                    f" + {cel_string(_NAMED_VOLUME)}"
                    " : 'storageClassName ' + variables.refused[0].spec.storageClassName"
                    f" + ' is not' + {_ALLOWS})"
                ),
                "reason": "Forbidden",
            }
        ],
    },
    POD_VOLUMES: {
        # Volumes of a pod cannot change once it exists.
        "rules": [resource_rule("", ["pods"], ["CREATE"])],
        "changed": None,
        "variables": _volume_variables("object.spec.?volumes", "spec.volumes"),
        "validations": [_VOLUMES_VALIDATION],
    },
    WORKLOADS: {
        "rules": [
            resource_rule(
                "apps", ["deployments", "replicasets", "statefulsets", "daemonsets"], WRITES
            ),
            resource_rule("batch", ["jobs"], WRITES),
            resource_rule("", ["replicationcontrollers"], WRITES),
        ],
        "changed": f"{_TEMPLATE_VOLUMES}.orValue([])"
        " != oldObject.spec.?template.?spec.?volumes.orValue([])",
        "variables": _volume_variables(_TEMPLATE_VOLUMES, "spec.template.spec.volumes"),
        "validations": [_VOLUMES_VALIDATION],
    },
    CRONJOBS: {
        "rules": [resource_rule("batch", ["cronjobs"], WRITES)],
        "changed": f"{_JOB_TEMPLATE_VOLUMES}.orValue([])"
        " != oldObject.spec.jobTemplate.spec.template.spec.?volumes.orValue([])",
        "variables": _volume_variables(
            _JOB_TEMPLATE_VOLUMES, "spec.jobTemplate.spec.template.spec.volumes"
        ),
        "validations": [_VOLUMES_VALIDATION],
    },
}


def storage_policies(operator_username: str) -> list[dict[str, Any]]:
    """The ValidatingAdmissionPolicies that keep tenants' data on resident storage.
    Requests from ``operator_username`` and from ``system:masters`` pass; the policies do
    nothing until bindings from :func:`storage_bindings` hand them a profile."""
    return [
        profile_policy(
            name,
            spec["rules"],
            written_conditions(
                operator_username, "storage-written", spec["changed"], spec.get("trusted", ())
            ),
            [
                {"name": variable, "expression": expression}
                for variable, expression in (*_COMMON_VARIABLES, *spec["variables"])
            ],
            spec["validations"],
        )
        for name, spec in _SPECS.items()
    ]


def storage_binding_name(policy_name: str, profile_name: str) -> str:
    """The name of the binding of ``policy_name`` for ``profile_name``."""
    return binding_name(policy_name, profile_name)


def storage_bindings(
    profile_name: str, spec: SovereigntyProfileSpec | None, *, pods: bool = True
) -> list[dict[str, Any]]:
    """The bindings of the storage policies for one profile; with ``spec`` None, only their
    kinds and names (enough to delete them). Without ``pods``, :data:`POD_VOLUMES` is left
    out: the placement policy makes its checks (``placement.validating_policy``)."""
    if spec is None:
        return namespace_bindings(POLICY_NAMES, profile_name, None)
    policies = tuple(p for p in POLICY_NAMES if pods or p != POD_VOLUMES)
    return namespace_bindings(policies, profile_name, spec)
