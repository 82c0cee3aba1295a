"""The protection of the operator's objects never blocks what must keep working: the
namespace controller deleting a namespace's content, the garbage collector deleting the
dependents of a deleted owner, and the operator's own Retain clean-up, each on the real
control plane, with the operator stopped where the cluster's own controllers act."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain.labels import PROFILE, SOVEREIGN_NAMESPACE
from tests.support.cluster import wait_for
from tests.support.operator import Operator
from tests.support.tenancy import GROUP, VERSION, Tenancy

RUN = uuid.uuid4().hex[:6]
PROFILE_NAME = f"protect-{RUN}"
CLASS = f"protect-{RUN}"
SELECTOR = SOVEREIGN_NAMESPACE


@pytest.fixture(scope="module")
def tenancy(api: Any, operator: Operator) -> Iterator[Tenancy]:
    client.StorageV1Api(api).create_storage_class(
        {
            "metadata": {"name": CLASS},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
        }
    )
    made = Tenancy(api)
    made.profile(PROFILE_NAME, storage={"allowedClasses": [CLASS]})
    yield made
    made.delete("sovereigntyprofiles", PROFILE_NAME)
    client.StorageV1Api(api).delete_storage_class(CLASS)


def bound(tenancy: Tenancy, deletion: str) -> str:
    name = f"protect-{uuid.uuid4().hex[:6]}"
    tenancy.namespace(
        name, PROFILE_NAME, deletionPolicy=deletion, owners=[{"kind": "User", "name": "alice"}]
    )
    tenancy.wait(name)
    return name


def kept_objects(api: Any, namespace: str) -> list[str]:
    networking, rbac = client.NetworkingV1Api(api), client.RbacAuthorizationV1Api(api)
    found = networking.list_namespaced_network_policy(namespace, label_selector=SELECTOR).items
    found += rbac.list_namespaced_role_binding(namespace, label_selector=SELECTOR).items
    return [item.metadata.name for item in found]


def gone(read: Any) -> bool:
    try:
        read()
    except ApiException as error:
        return error.status == 404
    return False


def resident_volume(api: Any, namespace: str, name: str = "data") -> None:
    Tenancy(api).volume(
        name,
        namespace,
        {"size": "1Gi", "accessModes": ["ReadWriteOnce"], "storageClassName": CLASS},
    )
    core = client.CoreV1Api(api)
    wait_for(lambda: core.read_namespaced_persistent_volume_claim(name, namespace), "the claim")


def test_the_namespace_controller_deletes_a_bound_namespace_with_the_operator_stopped(
    tenancy: Tenancy, api: Any, operator: Operator
) -> None:
    """The namespace holds the operator's policies and RoleBinding and a claim labelled as
    a ResidentVolume's; with the operator stopped, deleting the namespace completes.
    (A ResidentVolume itself carries the operator's finalizer, so a namespace that still
    holds one finishes once the operator is back; the next test deletes one with it up.)"""
    name = bound(tenancy, "Delete")
    core = client.CoreV1Api(api)
    claim = {
        "metadata": {"name": "kept", "labels": {"souverain.io/resident-volume": "kept"}},
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": CLASS,
            "resources": {"requests": {"storage": "1Gi"}},
        },
    }
    core.create_namespaced_persistent_volume_claim(name, claim)
    assert kept_objects(api, name)
    operator.stop()
    try:
        core.delete_namespace(name)
        wait_for(
            lambda: gone(lambda: core.read_namespace(name)),
            f"namespace {name} to go",
            timeout=120,
        )
    finally:
        operator.start()
    tenancy.delete("sovereignnamespaces", name)


def test_deleting_the_sovereign_namespace_deletes_its_namespace(tenancy: Tenancy, api: Any) -> None:
    name = bound(tenancy, "Delete")
    resident_volume(api, name)
    tenancy.delete("sovereignnamespaces", name)
    core = client.CoreV1Api(api)
    wait_for(
        lambda: gone(lambda: core.read_namespace(name)), f"namespace {name} to go", timeout=120
    )


def _drop_finalizers(api: Any, plural: str, name: str, namespace: str | None = None) -> None:
    objects = client.CustomObjectsApi(api)
    patch = {"metadata": {"finalizers": None}}
    if namespace:
        objects.patch_namespaced_custom_object(GROUP, VERSION, namespace, plural, name, patch)
    else:
        objects.patch_cluster_custom_object(GROUP, VERSION, plural, name, patch)


def test_the_garbage_collector_deletes_the_dependents_of_a_deleted_owner(
    tenancy: Tenancy, api: Any, operator: Operator
) -> None:
    """With the operator stopped, an administrator deletes a SovereignNamespace and a
    ResidentVolume past their finalizers: the garbage collector removes what they own."""
    name = bound(tenancy, "Retain")
    resident_volume(api, name)
    assert kept_objects(api, name)
    core = client.CoreV1Api(api)
    operator.stop()
    try:
        _drop_finalizers(api, "residentvolumes", "data", name)
        client.CustomObjectsApi(api).delete_namespaced_custom_object(
            GROUP, VERSION, name, "residentvolumes", "data"
        )
        _drop_finalizers(api, "sovereignnamespaces", name)
        tenancy.delete("sovereignnamespaces", name)
        wait_for(
            lambda: not kept_objects(api, name), "the garbage collector to delete the policies"
        )
        wait_for(
            lambda: gone(lambda: core.read_namespaced_persistent_volume_claim("data", name)),
            "the garbage collector to delete the claim",
        )
    finally:
        operator.start()
        core.delete_namespace(name)


def test_retain_clean_up_removes_the_operators_objects_and_labels(
    tenancy: Tenancy, api: Any
) -> None:
    name = bound(tenancy, "Retain")
    core = client.CoreV1Api(api)
    tenancy.delete("sovereignnamespaces", name)
    wait_for(lambda: not kept_objects(api, name), "the operator to remove its objects")

    def released() -> bool:
        labels = core.read_namespace(name).metadata.labels or {}
        return PROFILE not in labels and labels.get("souverain.io/retained") == "true"

    wait_for(released, f"namespace {name} to be released")
    core.delete_namespace(name)
