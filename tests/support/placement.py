"""Pods, Deployments and nodes, as the integration tests create and read them."""

from __future__ import annotations

from typing import Any

import pytest
from kubernetes import client

from souverain.devcluster.nodes import SOVEREIGN_LABEL
from tests.support.cluster import wait_for

NO_SCHEDULER = "no-scheduler"
"""A scheduler name nothing answers to: such pods wait for a binding."""


def pod(name: str, **spec: Any) -> dict[str, Any]:
    """A pod labelled ``app: name`` with one container and ``spec`` added."""
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}], **spec},
    }


def deployment(name: str, replicas: int, **spec: Any) -> dict[str, Any]:
    """A Deployment of ``replicas`` pods made by :func:`pod`."""
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": {"name": name},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "template": {k: v for k, v in pod(name, **spec).items() if k in ("metadata", "spec")},
        },
    }


def running(core: Any, namespace: str, name: str) -> bool:
    """Whether the pod ``namespace/name`` runs."""
    return bool(core.read_namespaced_pod(name, namespace).status.phase == "Running")


def running_pods(core: Any, namespace: str, app: str) -> list[Any]:
    """The running pods of ``app`` that are not being deleted."""
    pods = core.list_namespaced_pod(namespace, label_selector=f"app={app}").items
    return [
        p for p in pods if p.status.phase == "Running" and p.metadata.deletion_timestamp is None
    ]


def nodes_of(core: Any, namespace: str, app: str, count: int) -> list[str]:
    """The nodes of ``count`` running pods of ``app``, once that many run."""

    def placed() -> list[str] | None:
        found = running_pods(core, namespace, app)
        return [p.spec.node_name for p in found] if len(found) == count else None

    return wait_for(placed, f"{count} running pods of {app} in {namespace}", timeout=90)


def required_terms(found: Any) -> list[dict[str, Any]]:
    """The required node selector terms of a pod read from the API, as plain dicts."""
    affinity = found.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution
    return [client.ApiClient().sanitize_for_serialization(t) for t in affinity.node_selector_terms]


SOVEREIGN_REQUIREMENT = {"key": SOVEREIGN_LABEL, "operator": "In", "values": ["true"]}


def pinned(found: Any) -> bool:
    """Whether every required node selector term of the pod asks for a sovereign node."""
    return all(
        SOVEREIGN_REQUIREMENT in (term.get("matchExpressions") or [])
        for term in required_terms(found)
    )


def bind(core: Any, namespace: str, name: str, node: str, *, subresource: bool = True) -> None:
    """Binds the pod to ``node`` as a scheduler does, through the ``pods/binding``
    subresource or the ``bindings`` resource."""
    body = {
        "apiVersion": "v1",
        "kind": "Binding",
        "metadata": {"name": name, "namespace": namespace},
        "target": {"apiVersion": "v1", "kind": "Node", "name": node},
    }
    if subresource:
        core.create_namespaced_pod_binding(name, namespace, body, _preload_content=False)
    else:
        core.create_namespaced_binding(namespace, body, _preload_content=False)


def events_of(core: Any, namespace: str, reason: str) -> list[Any]:
    """The Events of the namespace with this reason."""
    return [e for e in core.list_namespaced_event(namespace).items if e.reason == reason]


class NodeLabel:
    """Removes the sovereign label from nodes, and puts it back afterwards."""

    def __init__(self, core: Any) -> None:
        self.core = core
        self.removed: list[str] = []

    def remove(self, node: str) -> None:
        self.removed.append(node)
        self.core.patch_node(node, {"metadata": {"labels": {SOVEREIGN_LABEL: None}}})

    def restore(self) -> None:
        for node in self.removed:
            self.core.patch_node(node, {"metadata": {"labels": {SOVEREIGN_LABEL: "true"}}})


def native_placement_holds(core: Any, namespace: str, node: str = "std-us-1") -> None:
    """Checks, once and at once, that the API server enforces the native placement
    policies in ``namespace``: a pod naming a node that does not qualify is refused, and
    a plain pod is pinned (both dry runs: nothing is created). Called as soon as the
    namespace is Ready, which the operator reports only once they answer so."""
    with pytest.raises(client.exceptions.ApiException) as refused:
        core.create_namespaced_pod(namespace, pod("probe", nodeName=node), dry_run="All")
    assert refused.value.status in (400, 403, 422), refused.value.body
    made = core.create_namespaced_pod(namespace, pod("probe"), dry_run="All")
    assert made.spec.affinity is not None, f"a plain pod was admitted unpinned in {namespace}"
    assert pinned(made), f"a plain pod was admitted with affinity {made.spec.affinity}"
