"""Exposure as a property: for Services drawn at random, in namespaces of profiles that
allow different exposures, the API server's decision on a namespace owner's create is
the one the report's evaluator (``souverain.report.exposure.service_exposure``, which
shares no code with the admission policy's CEL) gives, with the operator up and stopped.

The draws are seeded, so that every run tries the same Services and a failure names one
that can be tried again by hand."""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain.api import SovereigntyProfileSpec
from souverain.report.exposure import service_exposure
from tests.support.cluster import Cluster, wait_for
from tests.support.operator import Operator
from tests.support.states import OPERATOR_STATES, namespace_gone, operator_in
from tests.support.tenancy import SOVEREIGN_NODES, Tenancy

RUN = uuid.uuid4().hex[:6]
OWNER = f"alice-{RUN}"
RANGES = ["203.0.113.0/24", "2001:db8:5::/48"]
EXPOSURES: dict[str, dict[str, Any]] = {
    "closed": {},
    "balancers": {"loadBalancer": True},
    "ranged": {"loadBalancer": True, "loadBalancerIPRanges": RANGES},
    "open": {"loadBalancer": True, "nodePort": True, "externalIPs": True},
}
DRAWS = 60
"""Services drawn per profile and state."""


def _namespace(kind: str) -> str:
    return f"expose-{kind}-{RUN}"


@pytest.fixture(scope="module")
def owner(cluster: Cluster, api: Any, operator: Operator) -> Iterator[Any]:
    tenancy = Tenancy(api)
    for kind, exposure in EXPOSURES.items():
        tenancy.profile(_namespace(kind), exposure=exposure)
        tenancy.namespace(
            _namespace(kind), _namespace(kind), owners=[{"kind": "User", "name": OWNER}]
        )
    for kind in EXPOSURES:
        tenancy.wait(_namespace(kind))
    with cluster.api(impersonate=OWNER) as alice:
        core = client.CoreV1Api(alice)
        for kind in EXPOSURES:
            wait_for(
                lambda kind=kind: _decision(core, _namespace(kind), _probe(kind)) is not None,
                f"the exposure policy to answer in {_namespace(kind)}",
            )
        yield alice
    core = client.CoreV1Api(api)
    for kind in EXPOSURES:
        tenancy.delete("sovereignnamespaces", _namespace(kind))
    for kind in EXPOSURES:
        wait_for(
            lambda kind=kind: namespace_gone(core, _namespace(kind)), "namespace to go", timeout=120
        )
        tenancy.delete("sovereigntyprofiles", _namespace(kind))


def _probe(kind: str) -> dict[str, Any]:
    """A Service the namespace's profile refuses, to tell when its binding is loaded."""
    if kind == "open":
        return {"spec": {"type": "LoadBalancer", "ports": [{"port": 80}]}, "probe": "accepted"}
    return {"spec": {"type": "NodePort", "ports": [{"port": 80}]}, "probe": "refused"}


@pytest.fixture(scope="module", params=OPERATOR_STATES)
def state(request: pytest.FixtureRequest, owner: Any, operator: Operator) -> Iterator[str]:
    yield from operator_in(request.param, operator)


def _decision(core: Any, namespace: str, body: dict[str, Any]) -> bool | None:
    """True when the dry-run create is accepted, False when refused (403), None when the
    API server finds the Service invalid (422) or, for a probe, not yet as expected."""
    probe = body.pop("probe", None)
    service = {"metadata": {"name": f"s-{uuid.uuid4().hex[:6]}"}, **body}
    try:
        core.create_namespaced_service(namespace, service, dry_run="All")
    except ApiException as error:
        if error.status == 422:
            return None
        if error.status != 403:
            raise
        accepted = False
    else:
        accepted = True
    if probe is not None:
        return True if accepted == (probe == "accepted") else None
    return accepted


def _draw(rng: random.Random) -> dict[str, Any]:
    """A Service spec, from the values that decide exposure and their near misses."""
    spec: dict[str, Any] = {"ports": [{"port": 80}], "selector": {"app": "web"}}
    kind = rng.choice(["ClusterIP", "ClusterIP", "NodePort", "LoadBalancer", "LoadBalancer"])
    if kind != "ClusterIP" or rng.random() < 0.5:
        spec["type"] = kind
    if kind == "ClusterIP" and rng.random() < 0.2:
        spec["clusterIP"] = "None"
    if kind == "LoadBalancer":
        choice = rng.random()
        if choice < 0.3:
            spec["allocateLoadBalancerNodePorts"] = False
        elif choice < 0.5:
            spec["allocateLoadBalancerNodePorts"] = True
        spec["loadBalancerIP"] = rng.choice(
            [None, "203.0.113.7", "203.0.112.255", "203.0.114.0", "198.51.100.1", "2001:db8:5::9"]
        )
        if spec["loadBalancerIP"] is None:
            del spec["loadBalancerIP"]
    if kind == "NodePort" and rng.random() < 0.3:
        spec["ports"] = [{"port": 80, "nodePort": rng.randint(30000, 32767)}]
    if rng.random() < 0.3:
        spec["externalIPs"] = rng.sample(
            ["198.51.100.7", "203.0.113.9", "192.0.2.44", "2001:db8::1"], rng.randint(1, 2)
        )
    return {"spec": spec}


@pytest.mark.parametrize("kind", sorted(EXPOSURES))
def test_the_api_server_decides_as_the_evaluator(owner: Any, state: str, kind: str) -> None:
    rng = random.Random(f"{kind}-exposure")
    core = client.CoreV1Api(owner)
    profile = SovereigntyProfileSpec.model_validate(
        {"nodeRequirements": SOVEREIGN_NODES, "exposure": EXPOSURES[kind]}
    )
    compared = 0
    for _ in range(DRAWS):
        body = _draw(rng)
        decision = _decision(core, _namespace(kind), json.loads(json.dumps(body)))
        if decision is None:
            continue
        expected = not service_exposure(body, profile)
        assert decision == expected, (
            f"{_namespace(kind)}: the API server {'accepted' if decision else 'refused'} "
            f"{json.dumps(body['spec'])}; the evaluator finds "
            f"{service_exposure(body, profile) or 'nothing outside the profile'}"
        )
        compared += 1
    assert compared >= DRAWS * 3 // 4, f"only {compared} of {DRAWS} draws were valid Services"
