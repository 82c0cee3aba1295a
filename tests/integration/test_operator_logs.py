"""The operator's logs: at the default level they tell what a person needs to read (its
start, its repairs, failures), not every routine success of kopf's handlers; and they never
carry secrets: no private key, certificate or bearer token, even after it generated its
webhook certificates and handled tenants."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from tests.support.cluster import wait_for
from tests.support.operator import Operator
from tests.support.tenancy import GROUP, VERSION, Tenancy

SECRETS = re.compile(
    r"-----BEGIN [A-Z ]*(PRIVATE KEY|CERTIFICATE)-----|Bearer [A-Za-z0-9._-]{20,}|eyJhbGciOi"
)
KOPF_HANDLED = f"{GROUP}/last-handled-configuration"
"""The annotation kopf writes once its creation handlers of an object succeeded."""


@pytest.fixture(scope="module")
def handled(api: Any, operator: Operator) -> Iterator[str]:
    """A tenant the operator handled, with a pod, and one of its NetworkPolicies deleted and
    put back: the operator's log holds all of it. Its name."""
    tenancy = Tenancy(api)
    name = f"logs-{uuid.uuid4().hex[:6]}"
    tenancy.profile(name)
    tenancy.namespace(name, name)
    networking = client.NetworkingV1Api(api)
    try:
        tenancy.wait(name)
        tenancy.run_pod(name)
        networking.delete_namespaced_network_policy("souverain-deny-egress", name)
        wait_for(
            lambda: networking.read_namespaced_network_policy("souverain-deny-egress", name),
            "the operator to put souverain-deny-egress back",
        )
        yield name
    finally:
        tenancy.delete("sovereignnamespaces", name)
        tenancy.delete("sovereigntyprofiles", name)


def test_logs_hold_no_key_certificate_or_token(operator: Operator, handled: str) -> None:
    log = operator.log()
    assert f"Repairing NetworkPolicy {handled}/souverain-deny-egress" in log, (
        "the operator logged nothing of its work"
    )
    leaked = SECRETS.findall(log)
    assert not leaked, f"the operator's log holds secrets: {leaked[:3]}"


def test_the_default_log_tells_the_start_and_the_repairs_not_routine_successes(
    api: Any, operator: Operator, handled: str
) -> None:
    sovereign = client.CustomObjectsApi(api).get_cluster_custom_object(
        GROUP, VERSION, "sovereignnamespaces", handled
    )
    assert KOPF_HANDLED in sovereign["metadata"]["annotations"], "kopf did not handle it"
    lines = operator.log().splitlines()
    for wanted in (
        "souverain starting as ",
        "Every informer has listed; acting alone",
        "Active as ",
        f"Repairing NetworkPolicy {handled}/souverain-deny-egress after a DELETED event",
    ):
        assert any(wanted in line for line in lines), f"no line says {wanted!r}"
    assert [line for line in lines if "succeeded" in line] == []
    assert [line for line in lines if "OS signals are ignored" in line] == []
