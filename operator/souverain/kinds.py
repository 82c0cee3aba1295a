"""Where the API server serves each kind the operator reads or writes."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from souverain.api import RESOURCES


@dataclass(frozen=True)
class Kind:
    """Where the API server serves a kind."""

    group_version: str
    plural: str
    namespaced: bool

    def path(self, name: str | None = None, namespace: str | None = None) -> str:
        root = "/api/v1" if self.group_version == "v1" else f"/apis/{self.group_version}"
        if self.namespaced and namespace:
            root += f"/namespaces/{namespace}"
        root += f"/{self.plural}"
        return f"{root}/{name}" if name else root


KINDS: Final = {
    "Namespace": Kind("v1", "namespaces", False),
    "Node": Kind("v1", "nodes", False),
    "Pod": Kind("v1", "pods", True),
    "Service": Kind("v1", "services", True),
    "PodTemplate": Kind("v1", "podtemplates", True),
    "Deployment": Kind("apps/v1", "deployments", True),
    "StatefulSet": Kind("apps/v1", "statefulsets", True),
    "CronJob": Kind("batch/v1", "cronjobs", True),
    "Event": Kind("v1", "events", True),
    "Secret": Kind("v1", "secrets", True),
    "ConfigMap": Kind("v1", "configmaps", True),
    "PersistentVolumeClaim": Kind("v1", "persistentvolumeclaims", True),
    "PersistentVolume": Kind("v1", "persistentvolumes", False),
    "StorageClass": Kind("storage.k8s.io/v1", "storageclasses", False),
    "NetworkPolicy": Kind("networking.k8s.io/v1", "networkpolicies", True),
    "RoleBinding": Kind("rbac.authorization.k8s.io/v1", "rolebindings", True),
    "CiliumNetworkPolicy": Kind("cilium.io/v2", "ciliumnetworkpolicies", True),
    "ValidatingAdmissionPolicy": Kind(
        "admissionregistration.k8s.io/v1", "validatingadmissionpolicies", False
    ),
    "ValidatingAdmissionPolicyBinding": Kind(
        "admissionregistration.k8s.io/v1", "validatingadmissionpolicybindings", False
    ),
    "MutatingAdmissionPolicy": Kind(
        "admissionregistration.k8s.io/v1", "mutatingadmissionpolicies", False
    ),
    "MutatingAdmissionPolicyBinding": Kind(
        "admissionregistration.k8s.io/v1", "mutatingadmissionpolicybindings", False
    ),
    "MutatingWebhookConfiguration": Kind(
        "admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", False
    ),
    "ValidatingWebhookConfiguration": Kind(
        "admissionregistration.k8s.io/v1", "validatingwebhookconfigurations", False
    ),
    "ClusterRole": Kind("rbac.authorization.k8s.io/v1", "clusterroles", False),
    "Lease": Kind("coordination.k8s.io/v1", "leases", True),
    "VolumeSnapshot": Kind("snapshot.storage.k8s.io/v1", "volumesnapshots", True),
    "VolumeSnapshotContent": Kind("snapshot.storage.k8s.io/v1", "volumesnapshotcontents", False),
    "VolumeSnapshotClass": Kind("snapshot.storage.k8s.io/v1", "volumesnapshotclasses", False),
    **{
        resource.model_fields["kind"].default: Kind(
            resource.model_fields["api_version"].default,
            resource.definition.plural,
            resource.definition.scope == "Namespaced",
        )
        for resource in RESOURCES
    },
}
