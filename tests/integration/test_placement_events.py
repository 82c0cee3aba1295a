"""Each new pod of a bound namespace gets an Event saying it was pinned and where it runs."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from kubernetes import client

from tests.support.cluster import Cluster, wait_for
from tests.support.tenancy import Tenancy

pytestmark = pytest.mark.usefixtures("operator")


def test_new_pod_is_told_it_was_pinned(api: Any, cluster: Cluster) -> None:
    tenancy, core = Tenancy(api), client.CoreV1Api(api)
    name = f"pinned-{uuid.uuid4().hex[:6]}"
    tenancy.profile(name)
    tenancy.namespace(name, name)
    try:
        tenancy.wait(name)
        pod = tenancy.run_pod(name)

        def pinned_event() -> str | None:
            found = core.list_namespaced_event(
                name, field_selector="involvedObject.kind=Pod,involvedObject.name=app"
            ).items
            messages = [e.message for e in found if e.reason == "PodPinned"]
            return messages[0] if messages else None

        message = wait_for(pinned_event, "a PodPinned Event on the pod")
        assert pod.spec.node_name in message
        assert name in message
        assert pod.spec.node_name.startswith("sov-fr-")
    finally:
        tenancy.delete("sovereignnamespaces", name)
        tenancy.delete("sovereigntyprofiles", name)
