"""The operator's logs never carry secrets: no private key, certificate or bearer token,
even after it generated its webhook certificates and handled tenants."""

from __future__ import annotations

import re
import uuid
from typing import Any

from kubernetes import client

from tests.integration.conftest import Operator, wait_for

GROUP, VERSION = "souverain.io", "v1alpha1"
SECRETS = re.compile(
    r"-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----|Bearer [A-Za-z0-9._-]{20,}|eyJhbGciOi"
)


def test_logs_hold_no_key_certificate_or_token(api: Any, operator: Operator) -> None:
    objects, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    name = f"logs-{uuid.uuid4().hex[:6]}"
    objects.create_cluster_custom_object(
        GROUP,
        VERSION,
        "sovereigntyprofiles",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SovereigntyProfile",
            "metadata": {"name": name},
            "spec": {
                "nodeRequirements": [
                    {
                        "key": "node-restriction.kubernetes.io/french-sovereign",
                        "operator": "In",
                        "values": ["true"],
                    }
                ]
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
            "spec": {"profileName": name, "deletionPolicy": "Delete"},
        },
    )
    try:

        def ready() -> bool:
            found = objects.get_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces", name)
            return any(
                c["type"] == "Ready" and c["status"] == "True"
                for c in (found.get("status") or {}).get("conditions", [])
            )

        wait_for(ready, f"SovereignNamespace {name} to be Ready")
        wait_for(lambda: core.read_namespaced_service_account("default", name), "default SA")
        core.create_namespaced_pod(
            name,
            {
                "metadata": {"name": "app"},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
            },
        )
        wait_for(
            lambda: core.read_namespaced_pod("app", name).status.phase == "Running",
            "the pod to run",
        )
        log = operator.log()
        assert "Handler" in log, "the operator logged nothing of its work"
        leaked = SECRETS.findall(log)
        assert not leaked, f"the operator's log holds secrets: {leaked[:3]}"
    finally:
        objects.delete_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces", name)
        objects.delete_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", name)
