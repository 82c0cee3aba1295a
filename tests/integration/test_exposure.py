"""Exposure: a namespace owner reaches outside the cluster with a Service only as far as
the profile's spec.exposure allows, whatever form the Service takes, with the operator up
and stopped; the report and plan show what is exposed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from tests.support.cluster import Cluster, wait_for
from tests.support.escape_routes import refused
from tests.support.operator import Operator
from tests.support.placement import NO_SCHEDULER
from tests.support.states import OPERATOR_STATES, namespace_gone, operator_in, refused_now
from tests.support.tenancy import GROUP, SOVEREIGN_NODES, VERSION, Tenancy

RUN = uuid.uuid4().hex[:6]
CLOSED = f"closed-{RUN}"
"""A profile with the default exposure: nothing leaves the cluster."""
BALANCED = f"balanced-{RUN}"
"""A profile that allows load balancers inside one range, and no node port."""
RANGE = "203.0.113.0/24"
OWNER = f"alice-{RUN}"


@pytest.fixture(scope="module")
def owner(cluster: Cluster, api: Any, operator: Operator) -> Iterator[Any]:
    tenancy = Tenancy(api)
    tenancy.profile(CLOSED)
    tenancy.profile(BALANCED, exposure={"loadBalancer": True, "loadBalancerIPRanges": [RANGE]})
    for name in (CLOSED, BALANCED):
        tenancy.namespace(name, name, owners=[{"kind": "User", "name": OWNER}])
    for name in (CLOSED, BALANCED):
        tenancy.wait(name)
    with cluster.api(impersonate=OWNER) as alice:
        core = client.CoreV1Api(alice)
        for name in (CLOSED, BALANCED):
            wait_for(
                lambda name=name: core.list_namespaced_service(name), f"alice's rights in {name}"
            )
            # Ready means the exposure policy answers already: no wait.
            assert refused_now(
                lambda name=name: core.create_namespaced_service(
                    name, _service("probe", type="NodePort"), dry_run="All"
                )
            ), f"the exposure policy does not answer in {name} at Ready"
        yield alice
    core = client.CoreV1Api(api)
    for name in (CLOSED, BALANCED):
        tenancy.delete("sovereignnamespaces", name)
    for name in (CLOSED, BALANCED):
        wait_for(
            lambda name=name: namespace_gone(core, name), f"namespace {name} to go", timeout=120
        )
        tenancy.delete("sovereigntyprofiles", name)


@pytest.fixture(scope="module", params=OPERATOR_STATES)
def state(request: pytest.FixtureRequest, owner: Any, operator: Operator) -> Iterator[str]:
    yield from operator_in(request.param, operator)


@pytest.fixture
def services(api: Any) -> Iterator[None]:
    yield
    core = client.CoreV1Api(api)
    for namespace in (CLOSED, BALANCED):
        for found in core.list_namespaced_service(namespace).items:
            core.delete_namespaced_service(found.metadata.name, namespace)
        core.delete_collection_namespaced_pod(namespace, grace_period_seconds=0)


def _service(name: str, **spec: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], **spec},
    }


def _name() -> str:
    return f"svc-{uuid.uuid4().hex[:6]}"


ROUTES: dict[str, tuple[str, dict[str, Any], tuple[str, ...]]] = {
    "load-balancer": (CLOSED, {"type": "LoadBalancer"}, ("spec.type LoadBalancer",)),
    "node-port": (CLOSED, {"type": "NodePort"}, ("spec.type NodePort",)),
    "node-port-with-a-chosen-port": (
        CLOSED,
        {"type": "NodePort", "ports": [{"port": 80, "nodePort": 30080}]},
        ("spec.type NodePort",),
    ),
    "external-ips": (
        CLOSED,
        {"externalIPs": ["198.51.100.7"]},
        ("spec.externalIPs 198.51.100.7", "spec.exposure.externalIPs"),
    ),
    "external-ips-on-a-headless-service": (
        CLOSED,
        {"clusterIP": "None", "externalIPs": ["198.51.100.8"]},
        ("spec.externalIPs",),
    ),
    "load-balancer-with-node-ports": (
        BALANCED,
        {"type": "LoadBalancer"},
        ("spec.allocateLoadBalancerNodePorts", "spec.exposure.nodePort"),
    ),
    "load-balancer-address-outside-the-range": (
        BALANCED,
        {
            "type": "LoadBalancer",
            "allocateLoadBalancerNodePorts": False,
            "loadBalancerIP": "198.51.100.9",
        },
        ("spec.loadBalancerIP 198.51.100.9", RANGE),
    ),
    "external-ips-beside-an-allowed-load-balancer": (
        BALANCED,
        {
            "type": "LoadBalancer",
            "allocateLoadBalancerNodePorts": False,
            "externalIPs": ["203.0.113.10"],
        },
        ("spec.externalIPs 203.0.113.10",),
    ),
}


@pytest.mark.parametrize("route", sorted(ROUTES))
def test_a_service_past_the_profile_is_refused(
    owner: Any, state: str, route: str, services: None
) -> None:
    namespace, spec, expected = ROUTES[route]
    core = client.CoreV1Api(owner)
    refused(lambda: core.create_namespaced_service(namespace, _service(_name(), **spec)), *expected)


UPDATES: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]], str]] = {
    "to-node-port": (CLOSED, lambda s: {**s, "type": "NodePort"}, "spec.type NodePort"),
    "to-load-balancer": (CLOSED, lambda s: {**s, "type": "LoadBalancer"}, "spec.type LoadBalancer"),
    "add-external-ips": (
        CLOSED,
        lambda s: {**s, "externalIPs": ["198.51.100.7"]},
        "spec.externalIPs",
    ),
    "turn-node-ports-on": (
        BALANCED,
        lambda s: {**s, "allocateLoadBalancerNodePorts": True},
        "spec.allocateLoadBalancerNodePorts",
    ),
}


@pytest.mark.parametrize("route", sorted(UPDATES))
@pytest.mark.parametrize("form", ["merge-patch", "update"])
def test_an_update_past_the_profile_is_refused(
    owner: Any, state: str, route: str, form: str, services: None
) -> None:
    namespace, change, expected = UPDATES[route]
    core = client.CoreV1Api(owner)
    start: dict[str, Any] = (
        {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": False}
        if namespace == BALANCED
        else {}
    )
    name = _name()
    created = core.create_namespaced_service(namespace, _service(name, **start))
    wanted = change({})
    if form == "merge-patch":
        call = lambda: core.patch_namespaced_service(name, namespace, {"spec": wanted})  # noqa: E731
    else:
        body = client.ApiClient().sanitize_for_serialization(created)
        body["spec"].update(wanted)
        call = lambda: core.replace_namespaced_service(name, namespace, body)  # noqa: E731
    refused(call, expected)


def test_a_host_port_is_refused_by_the_pod_security_level(
    owner: Any, state: str, services: None
) -> None:
    pod = {
        "metadata": {"name": f"host-port-{RUN}"},
        "spec": {
            "schedulerName": NO_SCHEDULER,
            "containers": [
                {
                    "name": "web",
                    "image": "registry.example/web:1",
                    "ports": [{"containerPort": 80, "hostPort": 80}],
                }
            ],
        },
    }
    refused(lambda: client.CoreV1Api(owner).create_namespaced_pod(CLOSED, pod), "hostPort", "80")


INSIDE: dict[str, tuple[str, dict[str, Any]]] = {
    "cluster-ip": (CLOSED, {}),
    "headless": (CLOSED, {"clusterIP": "None"}),
    "external-name": (
        CLOSED,
        {"type": "ExternalName", "externalName": "db.fr.example", "selector": None},
    ),
    "load-balancer-in-the-range": (
        BALANCED,
        {
            "type": "LoadBalancer",
            "allocateLoadBalancerNodePorts": False,
            "loadBalancerIP": "203.0.113.20",
        },
    ),
    "load-balancer-with-any-address": (
        BALANCED,
        {"type": "LoadBalancer", "allocateLoadBalancerNodePorts": False},
    ),
}


@pytest.mark.parametrize("case", sorted(INSIDE))
def test_what_lies_inside_is_accepted(owner: Any, state: str, case: str, services: None) -> None:
    namespace, spec = INSIDE[case]
    body = _service(_name(), **spec)
    if body["spec"].get("selector", {}) is None:
        del body["spec"]["selector"]
    created = client.CoreV1Api(owner).create_namespaced_service(namespace, body)
    assert created.metadata.namespace == namespace


def test_a_profile_edit_takes_effect_at_once(
    api: Any, owner: Any, state: str, services: None
) -> None:
    """The policy reads the profile itself: an edit holds with the operator stopped too."""
    objects = client.CustomObjectsApi(api)
    core = client.CoreV1Api(owner)

    def allow(value: bool) -> None:
        patch = {"spec": {"exposure": {"nodePort": value}}}
        objects.patch_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", CLOSED, patch)

    allow(True)
    try:
        wait_for(
            lambda: _created(core, _service(_name(), type="NodePort")),
            "a NodePort Service to be accepted once the profile allows it",
        )
    finally:
        allow(False)
    wait_for(
        lambda: _refused(core, _service(_name(), type="NodePort")),
        "NodePort Services to be refused again",
    )


def _created(core: Any, body: dict[str, Any]) -> bool:
    try:
        core.create_namespaced_service(CLOSED, body)
    except ApiException as error:
        if error.status == 403:
            return False
        raise
    return True


def _refused(core: Any, body: dict[str, Any]) -> bool:
    return not _created(core, body)


def test_an_unrelated_update_of_a_service_made_before_is_accepted(
    api: Any, owner: Any, state: str, services: None
) -> None:
    """An administrator's NodePort Service (administrators pass) stays editable by the
    owner for everything but its exposure."""
    name = _name()
    client.CoreV1Api(api).create_namespaced_service(CLOSED, _service(name, type="NodePort"))
    patched = client.CoreV1Api(owner).patch_namespaced_service(
        name, CLOSED, {"metadata": {"labels": {"team": "web"}}}
    )
    assert patched.metadata.labels["team"] == "web"


def _cli(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "souverain", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        timeout=120,
        check=False,
    )


def test_the_report_lists_exposed_services_and_the_pod_security_level(
    cluster: Cluster, api: Any, owner: Any, services: None
) -> None:
    name = _name()
    client.CoreV1Api(api).create_namespaced_service(CLOSED, _service(name, type="NodePort"))
    result = _cli(cluster, "report", "--namespace", CLOSED)
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)["namespaces"][0]
    (service,) = found["services"]
    assert service["name"] == name
    assert service["type"] == "NodePort"
    assert len(service["nodePorts"]) == 1
    assert service["outsideProfile"] == ["type NodePort"]
    assert {
        "kind": "ServiceExposed",
        "object": f"Service/{name}",
    }.items() <= next(v for v in found["violations"] if v["kind"] == "ServiceExposed").items()
    assert found["podSecurity"] == {
        "level": "baseline",
        "version": "latest",
        "enforced": "baseline",
        "enforcedVersion": "latest",
    }
    assert not [v for v in found["violations"] if v["kind"] == "PodSecurityNotEnforced"]
    html = _cli(cluster, "report", "--namespace", CLOSED, "--format", "html")
    assert f"<td>{name}</td><td>NodePort</td>" in html.stdout
    assert "Pod Security level asked for: <b>baseline</b>" in html.stdout


def test_plan_shows_what_a_profile_would_expose_and_the_level_it_would_set(
    cluster: Cluster, api: Any, owner: Any, services: None, tmp_path: Path
) -> None:
    name = _name()
    client.CoreV1Api(api).create_namespaced_service(
        BALANCED, _service(name, type="LoadBalancer", allocateLoadBalancerNodePorts=False)
    )
    tighter = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SovereigntyProfile",
        "metadata": {"name": BALANCED},
        "spec": {"nodeRequirements": SOVEREIGN_NODES, "podSecurity": {"level": "restricted"}},
    }
    path = tmp_path / "tighter.yaml"
    path.write_text(yaml.safe_dump(tighter))
    result = _cli(cluster, "plan", "-f", str(path), "--format", "json")
    assert result.returncode == 0, result.stderr
    (effect,) = json.loads(result.stdout)["namespaces"]
    assert effect["exposedServices"] == [f"{name}: type LoadBalancer"]
    assert effect["podSecurity"].startswith("baseline (latest) -> restricted (latest)")
    text = _cli(cluster, "plan", "-f", str(path))
    assert "Services that would be exposed past the profile:" in text.stdout
    assert f"- {name}: type LoadBalancer" in text.stdout
    assert "this change breaks something" in text.stdout
    profile = client.CustomObjectsApi(api).get_cluster_custom_object(
        GROUP, VERSION, "sovereigntyprofiles", BALANCED
    )
    assert profile["spec"]["exposure"]["loadBalancer"] is True, "plan changed nothing"


INVALID: dict[str, tuple[dict[str, Any], str]] = {
    "ranges-without-load-balancers": (
        {"loadBalancerIPRanges": [RANGE]},
        "spec.exposure.loadBalancerIPRanges",
    ),
    "a-range-that-is-no-cidr": (
        {"loadBalancer": True, "loadBalancerIPRanges": ["203.0.113.0"]},
        "spec.exposure.loadBalancerIPRanges[0]",
    ),
    "a-range-with-host-bits": (
        {"loadBalancer": True, "loadBalancerIPRanges": ["203.0.113.1/24"]},
        "spec.exposure.loadBalancerIPRanges[0]",
    ),
    "a-string-for-a-boolean": ({"nodePort": "yes"}, "spec.exposure.nodePort"),
}


@pytest.mark.parametrize("case", sorted(INVALID))
def test_an_invalid_exposure_is_refused_naming_the_field(api: Any, case: str) -> None:
    exposure, field = INVALID[case]
    refused(lambda: Tenancy(api).profile(f"bad-{uuid.uuid4().hex[:6]}", exposure=exposure), field)


def test_kubectl_explain_describes_the_exposure(cluster: Cluster, souverain_crds: None) -> None:
    found = wait_for(
        lambda: (
            cluster.kubectl("explain", "sovereigntyprofile.spec.exposure", check=False).stdout
            or None
        ),
        "kubectl explain",
    )
    assert "CVE-2020-8554" in found
    assert "loadBalancerIPRanges" in found
