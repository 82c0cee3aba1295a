"""What the probes of :mod:`souverain.reconcile.probes` are: one escape and the layer that
must answer it (:class:`Probe`), and the objects they are made of, each admitted by every
profile and by Pod Security ``restricted`` (an image from an allowed registry,
no volume, a non-root user...), so that what a probe changes in one is the only thing a
layer can refuse."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Final, Literal

from souverain.admission.policy import PROBE_USER
from souverain.api import SovereigntyProfileSpec

PROBE_NAME: Final = "souverain-probe"
"""The name of every probe object, and of the RoleBinding that lets the probe act."""
PROBE_IMAGE: Final = "registry.k8s.io/pause:3.10"


Expect = Literal["refused", "pinned"]


@dataclass(frozen=True)
class Probe:
    """One escape, sent as a dry run, and the layer that must answer it."""

    layer: str
    """The layer's name as the status says it: a binding, a webhook, Pod Security."""
    route: str
    """The escape, for people."""
    method: Literal["POST", "DELETE", "PATCH"]
    kind: str
    name: str
    namespace: str
    body: dict[str, Any] | None = None
    expect: Expect = "refused"
    answered_by: str = ""
    """Text the refusal (or, in Audit mode, a warning) names: the binding, webhook or
    admission plugin that answered."""
    echoes_generation: bool = False
    """The layer reads the profile: its refusal names the generation it judged with."""


def image(spec: SovereigntyProfileSpec) -> str:
    registries = spec.images.allowed_registries
    return f"{registries[0]}/souverain-probe:1" if registries else PROBE_IMAGE


def pod_spec(spec: SovereigntyProfileSpec, **extra: Any) -> dict[str, Any]:
    """A pod spec every profile's checks and the Pod Security level ``restricted`` admit,
    with ``extra`` fields."""
    return {
        "automountServiceAccountToken": False,
        "securityContext": {
            "runAsNonRoot": True,
            "runAsUser": 65534,
            "seccompProfile": {"type": "RuntimeDefault"},
        },
        "containers": [
            {
                "name": "probe",
                "image": image(spec),
                "securityContext": {
                    "allowPrivilegeEscalation": False,
                    "capabilities": {"drop": ["ALL"]},
                },
            }
        ],
        **extra,
    }


def named(api_version: str, kind: str, namespace: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": api_version,
        "kind": kind,
        "metadata": {"name": PROBE_NAME, "namespace": namespace},
        "spec": spec,
    }


def probe_pod(namespace: str, spec: SovereigntyProfileSpec, **extra: Any) -> dict[str, Any]:
    """A pod every profile admits, with ``extra`` fields in its spec."""
    return named("v1", "Pod", namespace, pod_spec(spec, **extra))


def template(spec: SovereigntyProfileSpec, **extra: Any) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": PROBE_NAME}}, "spec": pod_spec(spec, **extra)}


def deployment(namespace: str, template: dict[str, Any]) -> dict[str, Any]:
    return named(
        "apps/v1",
        "Deployment",
        namespace,
        {"selector": {"matchLabels": {"app": PROBE_NAME}}, "template": template},
    )


def cronjob(namespace: str, template: dict[str, Any]) -> dict[str, Any]:
    template = {**template, "spec": {**template["spec"], "restartPolicy": "Never"}}
    return named(
        "batch/v1",
        "CronJob",
        namespace,
        {"schedule": "0 0 1 1 *", "jobTemplate": {"spec": {"template": template}}},
    )


def claim_spec(storage_class: str, **extra: Any) -> dict[str, Any]:
    return {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Mi"}},
        "storageClassName": storage_class,
        **extra,
    }


def statefulset(
    namespace: str, spec: SovereigntyProfileSpec, claim: dict[str, Any]
) -> dict[str, Any]:
    return named(
        "apps/v1",
        "StatefulSet",
        namespace,
        {
            "selector": {"matchLabels": {"app": PROBE_NAME}},
            "serviceName": PROBE_NAME,
            "template": template(spec),
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": claim}],
        },
    )


MISSPELLED_SNAPSHOT: Final = {
    "apiGroup": "snapshot.storage.k8s.io",
    "kind": "volumesnapshot",
    "name": PROBE_NAME,
}
"""A data source spelled like a snapshot that is not one (the API compares the kind
case-sensitively). Named as ``dataSourceRef``: the API server drops such a claim's
``dataSource`` before admission, and copies a ``dataSourceRef`` to it."""


PROBE_ROLE: Final = "souverain-probe"
"""The ClusterRole of the probe identity: what the probes need, in the namespaces where a
RoleBinding of the operator's grants it (see :func:`probe_binding`)."""


def probe_role() -> dict[str, Any]:
    """The ClusterRole :data:`PROBE_ROLE`: create (as dry runs) every kind a souverain
    policy guards, delete NetworkPolicies, and patch the namespace itself. More than the
    ``admin`` role owners get, so that a policy is probed even where a platform gives its
    tenants more than admin (snapshots, their Namespace's labels)."""

    def rule(group: str, resources: list[str], verbs: list[str]) -> dict[str, Any]:
        return {"apiGroups": [group], "resources": resources, "verbs": verbs}

    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "ClusterRole",
        "metadata": {
            "name": PROBE_ROLE,
            "labels": {"app.kubernetes.io/managed-by": "souverain"},
        },
        "rules": [
            rule("", ["pods", "persistentvolumeclaims", "services", "podtemplates"], ["create"]),
            rule("", ["namespaces"], ["patch"]),
            rule("networking.k8s.io", ["networkpolicies"], ["create", "delete"]),
            rule("apps", ["deployments", "statefulsets"], ["create"]),
            rule("batch", ["cronjobs"], ["create"]),
            rule("snapshot.storage.k8s.io", ["volumesnapshots"], ["create"]),
        ],
    }


def probe_binding(namespace: str) -> dict[str, Any]:
    """The RoleBinding that gives :data:`PROBE_USER` the ClusterRole :data:`PROBE_ROLE` in
    ``namespace``."""
    return {
        "apiVersion": "rbac.authorization.k8s.io/v1",
        "kind": "RoleBinding",
        "metadata": {"name": PROBE_NAME, "namespace": namespace},
        "roleRef": {
            "apiGroup": "rbac.authorization.k8s.io",
            "kind": "ClusterRole",
            "name": PROBE_ROLE,
        },
        "subjects": [{"kind": "User", "name": PROBE_USER, "apiGroup": "rbac.authorization.k8s.io"}],
    }
