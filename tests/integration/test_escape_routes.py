"""Every route of the catalogue in ``escape_routes.py``, tried by a namespace owner with
the operator up and with it stopped; and what lies inside the profile, accepted in both
states, so that a refusal is known to come from the route and not from a policy that
refuses everything."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.support.cluster import Cluster, wait_for
from tests.support.escape_routes import (
    ALLOWED_CLASS,
    ALLOWED_NFS,
    CLUSTER_DNS,
    PROFILE_CIDRS,
    ROUTES,
    SOVEREIGN,
    Route,
    Tenant,
    egress_holds,
    pod,
    unique,
)
from tests.support.operator import Operator
from tests.support.placement import NO_SCHEDULER
from tests.support.states import OPERATOR_STATES, namespace_gone, operator_in
from tests.support.tenancy import GROUP, VERSION, Tenancy

RUN = uuid.uuid4().hex[:6]
PROFILE = f"escape-{RUN}"
NAMESPACE = f"escape-{RUN}"
OWNER = f"alice-{RUN}"
NAMESPACE_EDITOR = f"escape-namespace-editor-{RUN}"


@pytest.fixture(scope="module")
def tenant(cluster: Cluster, api: Any, operator: Operator) -> Iterator[Tenant]:
    """A bound namespace owned by alice, with a ResidentVolume's claim, and the right to
    edit her own Namespace object (which the admin role does not give)."""
    storage = client.StorageV1Api(api)
    storage.create_storage_class(
        {
            "metadata": {"name": ALLOWED_CLASS},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
        }
    )
    tenancy = Tenancy(api)
    tenancy.profile(
        PROFILE,
        egress={"allowDNS": True, "cidrs": PROFILE_CIDRS},
        storage={
            "allowedClasses": [ALLOWED_CLASS],
            "allowedVolumeSources": {"nfsServers": [ALLOWED_NFS]},
        },
    )
    tenancy.namespace(NAMESPACE, PROFILE, owners=[{"kind": "User", "name": OWNER}])
    tenancy.wait(NAMESPACE)
    objects = client.CustomObjectsApi(api)
    objects.create_namespaced_custom_object(
        GROUP,
        VERSION,
        NAMESPACE,
        "residentvolumes",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ResidentVolume",
            "metadata": {"name": "ledger"},
            "spec": {
                "size": "1Gi",
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": ALLOWED_CLASS,
            },
        },
    )
    core = client.CoreV1Api(api)
    wait_for(lambda: core.read_namespaced_persistent_volume_claim("ledger", NAMESPACE), "the claim")
    rbac = client.RbacAuthorizationV1Api(api)
    tenancy.grant(
        NAMESPACE_EDITOR,
        NAMESPACE,
        OWNER,
        [
            {
                "apiGroups": [""],
                "resources": ["namespaces"],
                "verbs": ["get", "patch", "update"],
            }
        ],
    )
    nodes = {
        node.metadata.name: dict(node.metadata.labels or {}) for node in core.list_node().items
    }
    with cluster.api(impersonate=OWNER) as owner:
        wait_for(
            lambda: client.CoreV1Api(owner).read_namespace(NAMESPACE),
            "alice's rights on her namespace",
        )
        wait_for(
            lambda: client.CoreV1Api(owner).list_namespaced_pod(NAMESPACE), "alice's admin role"
        )
        yield Tenant(NAMESPACE, PROFILE, owner, api, nodes)
    objects.delete_namespaced_custom_object(GROUP, VERSION, NAMESPACE, "residentvolumes", "ledger")
    tenancy.delete("sovereignnamespaces", NAMESPACE)
    wait_for(
        lambda: namespace_gone(core, NAMESPACE), f"namespace {NAMESPACE} to be deleted", timeout=120
    )
    tenancy.delete("sovereigntyprofiles", PROFILE)
    rbac.delete_cluster_role(NAMESPACE_EDITOR)
    storage.delete_storage_class(ALLOWED_CLASS)


@pytest.fixture(scope="module", params=OPERATOR_STATES)
def state(request: pytest.FixtureRequest, tenant: Tenant, operator: Operator) -> Iterator[str]:
    """Runs every test of the module once with the operator up, once with it stopped."""
    yield from operator_in(request.param, operator)


@pytest.fixture
def cleanup(tenant: Tenant) -> Iterator[None]:
    """Removes what a route created, as the cluster's administrator."""
    yield
    apps, batch = client.AppsV1Api(tenant.admin), client.BatchV1Api(tenant.admin)
    core, networking = client.CoreV1Api(tenant.admin), client.NetworkingV1Api(tenant.admin)
    for delete in (
        apps.delete_collection_namespaced_deployment,
        apps.delete_collection_namespaced_daemon_set,
        apps.delete_collection_namespaced_stateful_set,
        apps.delete_collection_namespaced_replica_set,
        batch.delete_collection_namespaced_job,
        batch.delete_collection_namespaced_cron_job,
        core.delete_collection_namespaced_replication_controller,
    ):
        delete(tenant.namespace, propagation_policy="Background")
    core.delete_collection_namespaced_pod(tenant.namespace, grace_period_seconds=0)
    core.delete_collection_namespaced_persistent_volume_claim(
        tenant.namespace, label_selector="!souverain.io/resident-volume"
    )
    networking.delete_collection_namespaced_network_policy(
        tenant.namespace, label_selector="!souverain.io/sovereign-namespace"
    )


@pytest.mark.parametrize("route", ROUTES, ids=[r.id for r in ROUTES])
def test_route_is_closed(route: Route, tenant: Tenant, state: str, cleanup: None) -> None:
    route.attempt(tenant)


def test_the_catalogue_has_a_route_for_every_class() -> None:
    guarantees = {r.guarantee for r in ROUTES}
    assert guarantees == {"placement", "egress", "storage", "tenancy"}
    names = [r.id for r in ROUTES]
    assert len(names) == len(set(names)), "route names are unique"


def test_what_lies_inside_is_accepted(tenant: Tenant, state: str, cleanup: None) -> None:
    volumes = [
        {"name": "nfs", "nfs": {"server": ALLOWED_NFS, "path": "/exports"}},
        {"name": "nfs-upper", "nfs": {"server": ALLOWED_NFS.upper(), "path": "/exports"}},
        {"name": "claim", "persistentVolumeClaim": {"claimName": "ledger"}},
        {"name": "config", "configMap": {"name": "settings"}},
        {"name": "secret", "secret": {"secretName": "keys"}},
        {"name": "scratch", "emptyDir": {}},
        {
            "name": "info",
            "downwardAPI": {
                "items": [{"path": "labels", "fieldRef": {"fieldPath": "metadata.labels"}}]
            },
        },
        {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}},
        {
            "name": "ephemeral",
            "ephemeral": {
                "volumeClaimTemplate": {
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": ALLOWED_CLASS,
                        "resources": {"requests": {"storage": "1Gi"}},
                    }
                }
            },
        },
    ]
    created = tenant.core.create_namespaced_pod(
        tenant.namespace, pod(unique("inside"), volumes=volumes, schedulerName=NO_SCHEDULER)
    )
    terms = created.spec.affinity.node_affinity.required_during_scheduling_ignored_during_execution
    assert all(
        any(e.key == SOVEREIGN for e in t.match_expressions) for t in terms.node_selector_terms
    )
    equivalent = [
        {
            "namespaceSelector": {
                "matchExpressions": [
                    {"key": "souverain.io/profile", "operator": "In", "values": [PROFILE]}
                ]
            }
        },
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": NAMESPACE}},
            "podSelector": {},
        },
        {"ipBlock": {"cidr": "10.1.0.0/16"}},
    ]
    tenant.networking.create_namespaced_network_policy(
        tenant.namespace,
        {
            "metadata": {"name": unique("inside")},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [
                    {"to": equivalent, "ports": [{"protocol": "TCP", "port": 443}]},
                    {"to": [CLUSTER_DNS], "ports": [{"protocol": "UDP", "port": 53}]},
                ],
            },
        },
    )
    egress_holds(tenant)
