"""Pod Security: the profile's level is the bound namespace's, held by the API server's
own PodSecurity admission with the operator up and stopped, and the labels that set it
cannot be changed by the namespace's owner in any of the ways an update is written."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client

from souverain import labels
from tests.support.cluster import Cluster, wait_for
from tests.support.escape_routes import refused
from tests.support.operator import Operator
from tests.support.placement import NO_SCHEDULER, native_placement_holds
from tests.support.states import OPERATOR_STATES, namespace_gone, operator_in, refused_now
from tests.support.tenancy import GROUP, VERSION, Tenancy

RUN = uuid.uuid4().hex[:6]
PROFILE = f"pss-{RUN}"
NAMESPACE = f"pss-{RUN}"
OWNER = f"alice-{RUN}"
EDITOR = f"pss-namespace-editor-{RUN}"


def _pod(name: str, **spec: Any) -> dict[str, Any]:
    container = {"name": "app", "image": "registry.example/app:1", **spec.pop("container", {})}
    return {
        "metadata": {"name": name},
        "spec": {"containers": [container], "schedulerName": NO_SCHEDULER, **spec},
    }


@pytest.fixture(scope="module")
def owner(cluster: Cluster, api: Any, operator: Operator) -> Iterator[Any]:
    """alice's client on a namespace of a profile at the default level, with the right to
    edit her Namespace object and to add ephemeral containers (which the admin role does
    not give)."""
    tenancy = Tenancy(api)
    tenancy.profile(PROFILE)
    tenancy.namespace(NAMESPACE, PROFILE, owners=[{"kind": "User", "name": OWNER}])
    tenancy.wait(NAMESPACE)
    rbac = client.RbacAuthorizationV1Api(api)
    tenancy.grant(
        EDITOR,
        NAMESPACE,
        OWNER,
        [
            {
                "apiGroups": [""],
                "resources": ["namespaces"],
                "verbs": ["get", "patch", "update"],
            },
            {
                # kubectl debug: the admin role does not give it, a platform may.
                "apiGroups": [""],
                "resources": ["pods/ephemeralcontainers"],
                "verbs": ["patch", "update"],
            },
        ],
    )
    core = client.CoreV1Api(api)
    # Ready: the probes' pods were admitted, so the namespace's ServiceAccount is there.
    core.read_namespaced_service_account("default", NAMESPACE)
    with cluster.api(impersonate=OWNER) as alice:
        wait_for(lambda: client.CoreV1Api(alice).read_namespace(NAMESPACE), "alice's rights")
        wait_for(lambda: client.CoreV1Api(alice).list_namespaced_pod(NAMESPACE), "admin role")
        # Ready means the namespace label policy answers already: no wait.
        edit = {"metadata": {"labels": {labels.POD_SECURITY_WARN: "privileged"}}}
        assert refused_now(
            lambda: client.CoreV1Api(alice).patch_namespace(NAMESPACE, edit, dry_run="All")
        ), "the namespace label policy does not answer at Ready"
        yield alice
    tenancy.delete("sovereignnamespaces", NAMESPACE)
    wait_for(lambda: namespace_gone(core, NAMESPACE), f"namespace {NAMESPACE} to go", timeout=120)
    tenancy.delete("sovereigntyprofiles", PROFILE)
    rbac.delete_cluster_role(EDITOR)


@pytest.fixture(scope="module", params=OPERATOR_STATES)
def state(
    request: pytest.FixtureRequest, owner: Any, operator: Operator, api: Any
) -> Iterator[str]:
    for state in operator_in(request.param, operator):
        if state == "operator-stopped":
            # The tests' pods are pinned by the MutatingAdmissionPolicy alone now (the
            # operator's webhook pinned them too while it ran): it is in force at once.
            native_placement_holds(client.CoreV1Api(api), NAMESPACE)
        yield state


@pytest.fixture
def running(operator: Operator) -> Iterator[Operator]:
    """The operator up for one test, whichever state the module's other tests are in."""
    was_up = operator.alive()
    if not was_up:
        operator.start()
    yield operator
    if not was_up:
        operator.stop()
    elif not operator.alive():
        operator.start()


@pytest.fixture
def pods(api: Any) -> Iterator[None]:
    yield
    client.CoreV1Api(api).delete_collection_namespaced_pod(NAMESPACE, grace_period_seconds=0)


def _labels(api: Any) -> dict[str, str]:
    return dict(client.CoreV1Api(api).read_namespace(NAMESPACE).metadata.labels or {})


def test_the_namespace_carries_the_profile_s_level(api: Any, owner: Any, state: str) -> None:
    found = _labels(api)
    assert found[labels.POD_SECURITY_ENFORCE] == "baseline"
    assert found[labels.POD_SECURITY_ENFORCE_VERSION] == "latest"
    assert found[labels.POD_SECURITY_WARN] == "baseline"


POD_ROUTES: dict[str, tuple[dict[str, Any], str]] = {
    "privileged-container": (
        {"container": {"securityContext": {"privileged": True}}},
        'container "app" must not set securityContext.privileged=true',
    ),
    "privileged-init-container": (
        {
            "initContainers": [
                {
                    "name": "init",
                    "image": "registry.example/init:1",
                    "securityContext": {"privileged": True},
                }
            ]
        },
        'container "init" must not set securityContext.privileged=true',
    ),
    "host-pid": ({"hostPID": True}, "hostPID=true"),
    "host-ipc": ({"hostIPC": True}, "hostIPC=true"),
    "host-port": (
        {"container": {"ports": [{"containerPort": 80, "hostPort": 8080}]}},
        "hostPort",
    ),
    "added-capability": (
        {"container": {"securityContext": {"capabilities": {"add": ["NET_ADMIN"]}}}},
        "NET_ADMIN",
    ),
    "host-path": ({"volumes": [{"name": "root", "hostPath": {"path": "/"}}]}, "hostPath"),
}


@pytest.mark.parametrize("route", sorted(POD_ROUTES))
def test_a_pod_past_the_level_is_refused(owner: Any, state: str, route: str, pods: None) -> None:
    spec, field = POD_ROUTES[route]
    message = refused(
        lambda: client.CoreV1Api(owner).create_namespaced_pod(
            NAMESPACE, _pod(f"{route}-{RUN}", **json.loads(json.dumps(spec)))
        ),
        'violates PodSecurity "baseline:latest"',
        field,
    )
    assert "forbidden" in message


def test_a_privileged_ephemeral_container_is_refused(owner: Any, state: str, pods: None) -> None:
    core = client.CoreV1Api(owner)
    name = f"debugged-{uuid.uuid4().hex[:6]}"
    core.create_namespaced_pod(NAMESPACE, _pod(name))
    debug = {
        "name": "debug",
        "image": "registry.example/debug:1",
        "securityContext": {"privileged": True},
    }
    refused(
        lambda: core.patch_namespaced_pod_ephemeralcontainers(
            name, NAMESPACE, {"spec": {"ephemeralContainers": [debug]}}
        ),
        "PodSecurity",
        'container "debug" must not set securityContext.privileged=true',
    )


def test_a_pod_inside_the_level_is_accepted(owner: Any, state: str, pods: None) -> None:
    created = client.CoreV1Api(owner).create_namespaced_pod(
        NAMESPACE, _pod(f"plain-{uuid.uuid4().hex[:6]}")
    )
    assert created.metadata.namespace == NAMESPACE


LABEL_EDITS: dict[str, dict[str, str | None]] = {
    "lower-the-level": {labels.POD_SECURITY_ENFORCE: "privileged"},
    "remove-the-level": {labels.POD_SECURITY_ENFORCE: None},
    "pin-an-old-version": {labels.POD_SECURITY_ENFORCE_VERSION: "v1.0"},
    "silence-the-warnings": {labels.POD_SECURITY_WARN: None},
    "add-an-audit-label": {"pod-security.kubernetes.io/audit": "privileged"},
}


@pytest.mark.parametrize("edit", sorted(LABEL_EDITS))
@pytest.mark.parametrize("form", ["merge-patch", "json-patch", "update"])
def test_the_owner_cannot_change_the_pod_security_labels(
    owner: Any, state: str, edit: str, form: str
) -> None:
    core = client.CoreV1Api(owner)
    change = LABEL_EDITS[edit]
    if form == "merge-patch":
        call = lambda: core.patch_namespace(NAMESPACE, {"metadata": {"labels": change}})  # noqa: E731
    elif form == "json-patch":
        operations = [
            {"op": "remove", "path": f"/metadata/labels/{key.replace('/', '~1')}"}
            if value is None
            else {"op": "add", "path": f"/metadata/labels/{key.replace('/', '~1')}", "value": value}
            for key, value in change.items()
        ]
        call = lambda: core.patch_namespace(NAMESPACE, operations)  # noqa: E731
    else:
        current = core.read_namespace(NAMESPACE)
        wanted = dict(current.metadata.labels or {})
        for key, value in change.items():
            if value is None:
                wanted.pop(key, None)
            else:
                wanted[key] = value
        current.metadata.labels = wanted
        call = lambda: core.replace_namespace(NAMESPACE, current)  # noqa: E731
    refused(call, "metadata.labels under pod-security.kubernetes.io/", "spec.podSecurity")


def test_the_owner_may_still_change_her_other_labels(api: Any, owner: Any, state: str) -> None:
    core = client.CoreV1Api(owner)
    core.patch_namespace(NAMESPACE, {"metadata": {"labels": {"team": state}}})
    assert _labels(api)["team"] == state


def test_a_stricter_profile_holds_its_namespace_to_restricted(
    api: Any, owner: Any, running: Operator, pods: None
) -> None:
    """The level follows the profile through the operator; once applied it holds with the
    operator stopped."""
    objects = client.CustomObjectsApi(api)
    patch = {"spec": {"podSecurity": {"level": "restricted"}}}
    objects.patch_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", PROFILE, patch)
    try:
        wait_for(
            lambda: _labels(api).get(labels.POD_SECURITY_ENFORCE) == "restricted",
            "the namespace to be held to restricted",
        )
        running.stop()
        try:
            refused(
                lambda: client.CoreV1Api(owner).create_namespaced_pod(
                    NAMESPACE, _pod(f"root-{RUN}")
                ),
                'violates PodSecurity "restricted:latest"',
                "runAsNonRoot",
                "allowPrivilegeEscalation",
            )
            hardened = {
                "container": {
                    "securityContext": {
                        "allowPrivilegeEscalation": False,
                        "capabilities": {"drop": ["ALL"]},
                        "runAsNonRoot": True,
                        "runAsUser": 10001,
                        "seccompProfile": {"type": "RuntimeDefault"},
                    }
                }
            }
            client.CoreV1Api(owner).create_namespaced_pod(
                NAMESPACE, _pod(f"hardened-{RUN}", **hardened)
            )
        finally:
            running.start()
    finally:
        back = {"spec": {"podSecurity": {"level": "baseline"}}}
        objects.patch_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", PROFILE, back)
        wait_for(
            lambda: _labels(api).get(labels.POD_SECURITY_ENFORCE) == "baseline",
            "the namespace to be back at baseline",
        )


def test_a_label_an_administrator_removed_comes_back(
    api: Any, owner: Any, running: Operator
) -> None:
    """Cluster administrators pass the policy; the operator repairs their mistake."""
    core = client.CoreV1Api(api)
    core.patch_namespace(NAMESPACE, {"metadata": {"labels": {labels.POD_SECURITY_ENFORCE: None}}})
    wait_for(
        lambda: _labels(api).get(labels.POD_SECURITY_ENFORCE) == "baseline",
        "the operator to put the level back",
    )


INVALID_PROFILES: dict[str, tuple[dict[str, Any], str]] = {
    "unknown-level": ({"level": "privileged"}, "spec.podSecurity.level"),
    "version-not-a-release": ({"version": "1.30"}, "spec.podSecurity.version"),
}


@pytest.mark.parametrize("case", sorted(INVALID_PROFILES))
def test_an_invalid_level_is_refused_naming_the_field(api: Any, case: str) -> None:
    security, field = INVALID_PROFILES[case]
    message = refused(
        lambda: Tenancy(api).profile(f"pss-bad-{uuid.uuid4().hex[:6]}", podSecurity=security),
        field,
    )
    assert "Unsupported value" in message or "should match" in message


def test_a_sovereign_namespace_cannot_ask_for_pod_security_labels(api: Any) -> None:
    refused(
        lambda: Tenancy(api).namespace(
            f"pss-bad-{uuid.uuid4().hex[:6]}",
            PROFILE,
            labels={labels.POD_SECURITY_ENFORCE: "privileged"},
        ),
        "spec.labels",
        "spec.podSecurity",
    )


def test_kubectl_explain_describes_the_level(cluster: Cluster, souverain_crds: None) -> None:
    found = wait_for(
        lambda: (
            cluster.kubectl("explain", "sovereigntyprofile.spec.podSecurity", check=False).stdout
            or None
        ),
        "kubectl explain",
    )
    assert "Pod Security Standard" in found
    assert "restricted" in found


def test_kubectl_get_shows_the_level(cluster: Cluster, owner: Any) -> None:
    found = cluster.kubectl("get", "sp", PROFILE, "-o", "wide").stdout.splitlines()
    header, row = found[0].split(), found[1].split()
    assert dict(zip(header, row, strict=False))["PODSECURITY"] == "baseline"
