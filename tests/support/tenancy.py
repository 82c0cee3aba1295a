"""Creating profiles and sovereign namespaces in integration tests, and waiting on them."""

from __future__ import annotations

from typing import Any

from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.cluster import wait_for

GROUP, VERSION = "souverain.io", "v1alpha1"
SOVEREIGN = "node-restriction.kubernetes.io/french-sovereign"
SOVEREIGN_NODES = [{"key": SOVEREIGN, "operator": "In", "values": ["true"]}]


class Tenancy:
    """SovereigntyProfiles and SovereignNamespaces through the API, as a user writes them."""

    def __init__(self, api: Any) -> None:
        self.objects = client.CustomObjectsApi(api)
        self.core = client.CoreV1Api(api)

    def profile(self, name: str, **spec: Any) -> None:
        """Creates a profile; its node requirements default to the French-sovereign label."""
        self.profile_of(name, {"nodeRequirements": SOVEREIGN_NODES, **spec})

    def profile_of(self, name: str, spec: dict[str, Any]) -> None:
        """Creates a profile with exactly ``spec``."""
        self.objects.create_cluster_custom_object(
            GROUP,
            VERSION,
            "sovereigntyprofiles",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "SovereigntyProfile",
                "metadata": {"name": name},
                "spec": spec,
            },
        )

    def volume(self, name: str, namespace: str, spec: dict[str, Any]) -> None:
        """Creates a ResidentVolume with ``spec``."""
        self.objects.create_namespaced_custom_object(
            GROUP,
            VERSION,
            namespace,
            "residentvolumes",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "ResidentVolume",
                "metadata": {"name": name},
                "spec": spec,
            },
        )

    def namespace(self, name: str, profile: str, **spec: Any) -> None:
        """Creates a SovereignNamespace (deleting it deletes its Namespace unless told)."""
        self.objects.create_cluster_custom_object(
            GROUP,
            VERSION,
            "sovereignnamespaces",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "SovereignNamespace",
                "metadata": {"name": name},
                "spec": {"profileName": profile, "deletionPolicy": "Delete", **spec},
            },
        )

    def grant(self, role: str, namespace: str, user: str, rules: list[dict[str, Any]]) -> None:
        """Gives ``user`` the ``rules`` in ``namespace``, through a ClusterRole named
        ``role`` and a RoleBinding of the same name: rights a platform may add to the
        owners' admin role, which the guarantees must survive too."""
        rbac = client.RbacAuthorizationV1Api(self.objects.api_client)
        rbac.create_cluster_role({"metadata": {"name": role}, "rules": rules})
        rbac.create_namespaced_role_binding(
            namespace,
            {
                "metadata": {"name": role},
                "roleRef": {
                    "apiGroup": "rbac.authorization.k8s.io",
                    "kind": "ClusterRole",
                    "name": role,
                },
                "subjects": [
                    {"apiGroup": "rbac.authorization.k8s.io", "kind": "User", "name": user}
                ],
            },
        )

    def status(self, plural: str, name: str) -> dict[str, Any]:
        found = self.objects.get_cluster_custom_object(GROUP, VERSION, plural, name)
        return dict(found.get("status") or {})

    def condition_is_true(self, name: str, condition: str = "Ready") -> bool:
        """Whether the SovereignNamespace's condition is True."""
        return any(
            c["type"] == condition and c["status"] == "True"
            for c in self.status("sovereignnamespaces", name).get("conditions", [])
        )

    def wait(self, name: str, condition: str = "Ready") -> None:
        wait_for(lambda: self.condition_is_true(name, condition), f"{name} to be {condition}")

    def run_pod(self, namespace: str, name: str = "app") -> Any:
        """Creates a pod that asks nothing about placement, once the namespace can take
        pods, and returns it when it runs."""
        core = self.core
        wait_for(lambda: core.read_namespaced_service_account("default", namespace), "default SA")
        core.create_namespaced_pod(
            namespace,
            {
                "metadata": {"name": name},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
            },
        )

        def running() -> Any:
            pod = core.read_namespaced_pod(name, namespace)
            return pod if pod.status.phase == "Running" else None

        return wait_for(running, f"pod {namespace}/{name} to run")

    def delete(self, plural: str, name: str) -> None:
        """Deletes the object; one already gone is fine."""
        try:
            self.objects.delete_cluster_custom_object(GROUP, VERSION, plural, name)
        except ApiException as error:
            if error.status != 404:
                raise
