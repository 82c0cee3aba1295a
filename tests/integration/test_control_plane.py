"""Smoke tests that pass only on a real control plane: each one needs a different
real component (API server with CEL, scheduler, controller-manager, kwok, RBAC)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain.devcluster.nodes import SOVEREIGN_LABEL
from tests.support.cluster import Cluster, wait_for

WIDGET_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.smoke.souverain.io"},
    "spec": {
        "group": "smoke.souverain.io",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [
            {
                "name": "v1",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "properties": {
                            "spec": {
                                "type": "object",
                                "properties": {
                                    "minReplicas": {"type": "integer"},
                                    "maxReplicas": {"type": "integer"},
                                },
                                "x-kubernetes-validations": [
                                    {
                                        "rule": "self.minReplicas <= self.maxReplicas",
                                        "message": "minReplicas must not exceed maxReplicas",
                                    }
                                ],
                            }
                        },
                    }
                },
            }
        ],
    },
}


def _running_pod(core: Any, namespace: str, name: str) -> Any:
    pod = core.read_namespaced_pod(name, namespace)
    return pod if pod.status.phase == "Running" else None


def test_cel_rule_of_a_crd_refuses_a_bad_object(api: Any, namespace: str) -> None:
    extensions = client.ApiextensionsV1Api(api)
    try:
        extensions.create_custom_resource_definition(WIDGET_CRD)
    except ApiException as error:
        if error.status != 409:
            raise

    def established() -> bool:
        crd = extensions.read_custom_resource_definition(WIDGET_CRD["metadata"]["name"])
        return any(
            c.type == "Established" and c.status == "True" for c in crd.status.conditions or []
        )

    wait_for(established, "the Widget CRD to be established")
    objects = client.CustomObjectsApi(api)

    def create(name: str, low: int, high: int) -> Any:
        body = {
            "apiVersion": "smoke.souverain.io/v1",
            "kind": "Widget",
            "metadata": {"name": name},
            "spec": {"minReplicas": low, "maxReplicas": high},
        }
        return objects.create_namespaced_custom_object(
            "smoke.souverain.io", "v1", namespace, "widgets", body
        )

    # A freshly established CRD can take a moment before its kind is served.
    wait_for(lambda: create("good", 1, 3), "a valid Widget to be accepted")
    with pytest.raises(ApiException) as refused:
        create("bad", 5, 2)
    assert refused.value.status == 422
    assert "minReplicas must not exceed maxReplicas" in refused.value.body


def test_scheduler_binds_a_pod_to_a_matching_kwok_node(core: Any, namespace: str) -> None:
    pod = {
        "metadata": {"name": "pinned"},
        "spec": {
            "nodeSelector": {SOVEREIGN_LABEL: "true"},
            "containers": [{"name": "app", "image": "registry.example/app:1"}],
        },
    }
    core.create_namespaced_pod(namespace, pod)
    running = wait_for(lambda: _running_pod(core, namespace, "pinned"), "the pod to run")
    node = core.read_node(running.spec.node_name)
    assert node.metadata.labels.get(SOVEREIGN_LABEL) == "true"


def test_deployment_produces_a_replicaset_and_running_pods(
    api: Any, core: Any, namespace: str
) -> None:
    apps = client.AppsV1Api(api)
    labels = {"app": "web"}
    apps.create_namespaced_deployment(
        namespace,
        {
            "metadata": {"name": "web"},
            "spec": {
                "replicas": 2,
                "selector": {"matchLabels": labels},
                "template": {
                    "metadata": {"labels": labels},
                    "spec": {"containers": [{"name": "web", "image": "registry.example/web:1"}]},
                },
            },
        },
    )
    replica_sets = wait_for(
        lambda: apps.list_namespaced_replica_set(namespace).items, "a ReplicaSet"
    )
    assert replica_sets[0].metadata.owner_references[0].kind == "Deployment"

    def running_pods() -> list[Any]:
        pods = core.list_namespaced_pod(namespace, label_selector="app=web").items
        running = [p for p in pods if p.status.phase == "Running"]
        return running if len(running) == 2 else []

    wait_for(running_pods, "two running pods of the Deployment")
    wait_for(
        lambda: (
            apps.read_namespaced_deployment(
                namespace=namespace, name="web"
            ).status.available_replicas
            == 2
        ),
        "the Deployment to report two available replicas",
    )


def test_deleted_namespace_finishes_deleting(core: Any) -> None:
    name = f"gone-{uuid.uuid4().hex[:8]}"
    core.create_namespace({"metadata": {"name": name}})
    wait_for(
        lambda: core.read_namespaced_service_account("default", name), "the default ServiceAccount"
    )
    core.create_namespaced_config_map(name, {"metadata": {"name": "settings"}, "data": {"a": "b"}})
    core.create_namespaced_pod(
        name,
        {
            "metadata": {"name": "app"},
            "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
        },
    )
    wait_for(lambda: _running_pod(core, name, "app"), "the pod to run")
    core.delete_namespace(name)

    def gone() -> bool:
        try:
            core.read_namespace(name)
        except ApiException as error:
            return error.status == 404
        return False

    wait_for(gone, f"namespace {name} to finish deleting", timeout=120)


def test_user_without_rbac_is_denied(cluster: Cluster, namespace: str) -> None:
    with cluster.api(impersonate="mallory@example.org") as api:
        with pytest.raises(ApiException) as denied:
            client.CoreV1Api(api).list_namespaced_pod(namespace)
        assert denied.value.status == 403
        assert "mallory@example.org" in denied.value.body
    result = cluster.kubectl(
        "auth", "can-i", "create", "pods", "-n", namespace, "--as=mallory@example.org", check=False
    )
    assert result.stdout.strip() == "no"
