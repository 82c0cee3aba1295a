"""Network-plugin extras: where the cluster serves Cilium's CiliumNetworkPolicy, FQDN rules
are enforced by it and reported as such; elsewhere they are listed as unenforceable.

The local control plane has no Cilium; installing its CRD makes the API server serve the
kind, which is all the operator looks for (nothing here checks traffic).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain.reconcile import egress
from tests.support.cluster import wait_for

GROUP, VERSION = "souverain.io", "v1alpha1"
RUN = uuid.uuid4().hex[:6]
CILIUM_CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "ciliumnetworkpolicies.cilium.io"},
    "spec": {
        "group": "cilium.io",
        "scope": "Namespaced",
        "names": {
            "plural": "ciliumnetworkpolicies",
            "singular": "ciliumnetworkpolicy",
            "kind": "CiliumNetworkPolicy",
            "shortNames": ["cnp"],
        },
        "versions": [
            {
                "name": "v2",
                "served": True,
                "storage": True,
                "schema": {
                    "openAPIV3Schema": {
                        "type": "object",
                        "x-kubernetes-preserve-unknown-fields": True,
                    }
                },
            }
        ],
    },
}

pytestmark = pytest.mark.usefixtures("operator")


@pytest.fixture
def cilium(api: Any) -> Iterator[None]:
    extensions = client.ApiextensionsV1Api(api)
    extensions.create_custom_resource_definition(CILIUM_CRD)
    try:
        yield
    finally:
        extensions.delete_custom_resource_definition(CILIUM_CRD["metadata"]["name"])


def test_fqdn_rules_go_to_cilium_where_it_is_served(api: Any, cilium: None) -> None:
    objects = client.CustomObjectsApi(api)
    profile, name = f"cni-{RUN}", f"cni-tenant-{RUN}"
    objects.create_cluster_custom_object(
        GROUP,
        VERSION,
        "sovereigntyprofiles",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SovereigntyProfile",
            "metadata": {"name": profile},
            "spec": {
                "nodeRequirements": [
                    {"key": "node-restriction.kubernetes.io/french-sovereign", "operator": "Exists"}
                ],
                "egress": {"fqdns": [{"pattern": "*.gouv.fr", "ports": [{"port": 443}]}]},
            },
        },
    )
    objects.create_cluster_custom_object(
        GROUP,
        VERSION,
        "sovereignnamespaces",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SovereignNamespace",
            "metadata": {"name": name},
            "spec": {"profileName": profile},
        },
    )
    touches = 0
    try:

        def cilium_layer() -> dict[str, Any] | None:
            nonlocal touches
            found = objects.get_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces", name)
            status = found.get("status") or {}
            if "CiliumNetworkPolicy" in status.get("enforcementLayers", []):
                return dict(status)
            # Discovery is refreshed every few seconds; a change makes the operator look again.
            touches += 1
            objects.patch_cluster_custom_object(
                GROUP,
                VERSION,
                "sovereignnamespaces",
                name,
                {"metadata": {"labels": {"touch": str(touches)}}},
            )
            return None

        status = wait_for(cilium_layer, "the Cilium layer in the status", interval=1.0)
        assert status["unenforceableEgress"] == []
        policy = objects.get_namespaced_custom_object(
            "cilium.io", "v2", name, "ciliumnetworkpolicies", egress.FQDN_POLICY
        )
        patterns = [
            rule["toFQDNs"][0]["matchPattern"]
            for rule in policy["spec"]["egress"]
            if "toFQDNs" in rule
        ]
        assert patterns == ["*.gouv.fr"]
    finally:
        for delete in (
            lambda: objects.delete_cluster_custom_object(
                GROUP, VERSION, "sovereignnamespaces", name
            ),
            lambda: objects.delete_cluster_custom_object(
                GROUP, VERSION, "sovereigntyprofiles", profile
            ),
        ):
            try:
                delete()
            except ApiException as error:
                if error.status != 404:
                    raise
