"""Image registries on the real control plane: every form a namespace owner could write
an image in, in every place a pod takes one, refused with a message naming the field,
with the operator up and with it stopped; what the profile allows, accepted in both
states; a property test that the API server decides as the independent evaluator
(:mod:`souverain.outcomes.images`) does; the CRD's refusals; and the report and plan."""

from __future__ import annotations

import json
import os
import random
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

# With native placement (the default), the placement policy makes the pods' image checks.
from souverain.admission.placement import VALIDATING_POLICY_NAME as POD_CHECKS
from souverain.outcomes.images import decide
from souverain.report.schema import Report
from tests.support.cluster import Cluster, wait_for
from tests.support.escape_routes import refused
from tests.support.operator import Operator
from tests.support.placement import NO_SCHEDULER
from tests.support.states import OPERATOR_STATES, namespace_gone, operator_in
from tests.support.tenancy import GROUP, SOVEREIGN_NODES, VERSION, Tenancy

RUN = uuid.uuid4().hex[:6]
PROFILE = f"images-{RUN}"
NAMESPACE = f"images-{RUN}"
OWNER = f"ines-{RUN}"
EXTRA_RIGHTS = f"images-debugging-{RUN}"
ALLOWED = [
    "registry.fr.example",
    "registry.fr.example:5000/team-a",
    "localhost/souverain",
    "docker.io/library/busybox",
]
LISTED = ", ".join(ALLOWED)
DIGEST = "sha256:" + "0123456789abcdef" * 4
OUTSIDE = "evil.example/app:1"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def pod_spec(image: str = "registry.fr.example/app:1", **spec: Any) -> dict[str, Any]:
    return {
        "schedulerName": NO_SCHEDULER,
        "containers": [{"name": "app", "image": image}],
        **spec,
    }


def pod(name: str, image: str = "registry.fr.example/app:1", **spec: Any) -> dict[str, Any]:
    return {"metadata": {"name": name, "labels": {"app": name}}, "spec": pod_spec(image, **spec)}


class Owner:
    """The namespace owner's clients."""

    def __init__(self, api: Any) -> None:
        self.core = client.CoreV1Api(api)
        self.apps = client.AppsV1Api(api)
        self.batch = client.BatchV1Api(api)


@pytest.fixture(scope="module")
def owner(cluster: Cluster, api: Any, operator: Operator) -> Iterator[Owner]:
    """A namespace bound to a profile that allows :data:`ALLOWED`, owned by ines."""
    tenancy = Tenancy(api)
    tenancy.profile(PROFILE, images={"allowedRegistries": ALLOWED})
    tenancy.namespace(NAMESPACE, PROFILE, owners=[{"kind": "User", "name": OWNER}])
    tenancy.wait(NAMESPACE)
    _grant_debugging_and_pod_templates(api)
    core = client.CoreV1Api(api)
    # Ready: the probes' pods were admitted, so the namespace's ServiceAccount is there.
    core.read_namespaced_service_account("default", NAMESPACE)
    with cluster.api(impersonate=OWNER) as impersonated:
        tenant = Owner(impersonated)
        wait_for(lambda: tenant.core.list_namespaced_pod(NAMESPACE), "ines's admin role")
        wait_for(lambda: tenant.core.list_namespaced_pod_template(NAMESPACE), "ines's extra rights")
        # Ready means the image policies refuse already: no wait.
        assert not _accepted(tenant, OUTSIDE), "an image from elsewhere was accepted at Ready"
        yield tenant
    tenancy.delete("sovereignnamespaces", NAMESPACE)
    wait_for(
        lambda: namespace_gone(core, NAMESPACE), f"namespace {NAMESPACE} to be deleted", timeout=120
    )
    tenancy.delete("sovereigntyprofiles", PROFILE)
    client.RbacAuthorizationV1Api(api).delete_cluster_role(EXTRA_RIGHTS)


def _grant_debugging_and_pod_templates(api: Any) -> None:
    """The admin role gives neither kubectl debug nor PodTemplates; a platform may grant
    them to owners, and the policies must hold then too."""
    Tenancy(api).grant(
        EXTRA_RIGHTS,
        NAMESPACE,
        OWNER,
        [
            {
                "apiGroups": [""],
                "resources": ["pods/ephemeralcontainers", "podtemplates"],
                "verbs": ["get", "list", "create", "patch", "update"],
            }
        ],
    )


@pytest.fixture(scope="module", params=OPERATOR_STATES)
def state(request: pytest.FixtureRequest, owner: Owner, operator: Operator) -> Iterator[str]:
    """Runs the tests that ask for it once with the operator up, once with it stopped."""
    yield from operator_in(request.param, operator)


@pytest.fixture
def cleanup(api: Any, owner: Owner) -> Iterator[None]:
    yield
    core = client.CoreV1Api(api)
    core.delete_collection_namespaced_pod(NAMESPACE, grace_period_seconds=0)
    core.delete_collection_namespaced_pod_template(NAMESPACE)


def create_pod(owner: Owner, body: dict[str, Any], dry_run: bool = True) -> Any:
    return owner.core.create_namespaced_pod(NAMESPACE, body, dry_run="All" if dry_run else None)


# -- the forms of one reference ----------------------------------------------------

REFUSED_FORMS = {
    "bare-name": "nginx",
    "bare-name-tagged": "nginx:1.27",
    "docker-hub-library": "docker.io/library/nginx:1.27",
    "legacy-docker-hub": "index.docker.io/nginx",
    "docker-hub-user": "busybox/busybox",
    "a-name-past-an-allowed-one": "busybox2",
    "host-as-a-tag": "registry.fr.example:5000",
    "host-suffix": "registry.fr.example.evil.com/app",
    "unlisted-port": "registry.fr.example:5000/app",
    "unlisted-port-on-listed-host": "registry.fr.example:443/app",
    "prefix-boundary": "registry.fr.example:5000/team-ab/app",
    "prefix-boundary-localhost": "localhost/souverainx/app",
    "mixed-case-outside": "Evil.Example/app",
    "upper-case-first-segment": "Registry/app",
    "digest-only": f"evil.example/app@{DIGEST}",
    "tag-and-digest": f"evil.example/app:1@{DIGEST}",
    "unlisted-localhost-port": "localhost:5000/souverain/app",
}
UNREADABLE_FORMS = {
    "scheme": "https://registry.fr.example/app",
    "upper-case-path": "registry.fr.example/App",
    "space-inside": "registry.fr.example/app name",
    "empty-segment": "registry.fr.example//app",
    "trailing-slash": "registry.fr.example/app/",
    "bad-digest": "registry.fr.example/app@sha256:abc",
    "ipv6-registry": "[fd00::1]:5000/app",
    "image-id": DIGEST,
}
ACCEPTED_FORMS = [
    "registry.fr.example/app:1",
    "Registry.FR.Example/app:1",
    "REGISTRY.FR.EXAMPLE/team/app",
    f"registry.fr.example/app@{DIGEST}",
    f"registry.fr.example/app:1@{DIGEST}",
    "registry.fr.example:5000/team-a",
    "registry.fr.example:5000/team-a/app:2",
    "localhost/souverain/app",
    "LOCALHOST/souverain/app",
    "busybox",
    "busybox:1.36",
    "docker.io/busybox",
    "docker.io/library/busybox:1.36",
    "index.docker.io/busybox",
    f"index.docker.io/library/busybox:1.36@{DIGEST}",
]


@pytest.mark.parametrize("image", REFUSED_FORMS.values(), ids=list(REFUSED_FORMS))
def test_an_image_outside_the_registries_is_refused(owner: Owner, state: str, image: str) -> None:
    message = refused(
        lambda: create_pod(owner, pod(unique("outside"), image)),
        "spec.containers[0].image",
        LISTED,
    )
    assert POD_CHECKS in message


@pytest.mark.parametrize("image", UNREADABLE_FORMS.values(), ids=list(UNREADABLE_FORMS))
def test_a_reference_the_policy_cannot_read_is_refused(
    owner: Owner, state: str, image: str
) -> None:
    refused(
        lambda: create_pod(owner, pod(unique("unreadable"), image)),
        "spec.containers[0].image",
        LISTED,
    )


def test_every_allowed_form_is_accepted(owner: Owner, state: str, cleanup: None) -> None:
    containers = [
        {"name": f"c{index}", "image": image} for index, image in enumerate(ACCEPTED_FORMS)
    ]
    body = pod(unique("inside"))
    body["spec"]["containers"] = containers
    body["spec"]["initContainers"] = [{"name": "init", "image": "busybox:1.36"}]
    create_pod(owner, body, dry_run=False)


# -- every place a pod takes an image ------------------------------------------


def test_init_containers_are_checked(owner: Owner, state: str) -> None:
    body = pod(unique("init"), initContainers=[{"name": "init", "image": OUTSIDE}])
    refused(lambda: create_pod(owner, body), "spec.initContainers[0].image", OUTSIDE)


def test_image_volumes_are_checked(owner: Owner, state: str) -> None:
    allowed = pod(
        unique("volume"),
        volumes=[{"name": "data", "image": {"reference": "registry.fr.example/data:1"}}],
    )
    try:
        created = create_pod(owner, allowed)
    except ApiException as error:
        pytest.skip(f"this API server does not take image volumes: {error.reason}")
    if not (created.spec.volumes and created.spec.volumes[0].image):
        pytest.skip("this API server drops image volumes (the ImageVolume feature is off)")
    body = pod(
        unique("volume"),
        volumes=[
            {"name": "config", "emptyDir": {}},
            {"name": "data", "image": {"reference": OUTSIDE}},
        ],
    )
    refused(lambda: create_pod(owner, body), "spec.volumes[1].image.reference", OUTSIDE)


def test_ephemeral_containers_are_checked(owner: Owner, state: str, cleanup: None) -> None:
    name = unique("debugged")
    create_pod(owner, pod(name), dry_run=False)
    debug = {
        "name": "debugger",
        "image": OUTSIDE,
        "targetContainerName": "app",
    }
    patch = {"spec": {"ephemeralContainers": [debug]}}
    refused(
        lambda: owner.core.patch_namespaced_pod_ephemeralcontainers(name, NAMESPACE, patch),
        "spec.ephemeralContainers[0].image",
        OUTSIDE,
    )
    debug["image"] = "busybox:1.36"
    owner.core.patch_namespaced_pod_ephemeralcontainers(name, NAMESPACE, patch)


def test_an_update_that_changes_an_image_is_checked(
    owner: Owner, state: str, cleanup: None
) -> None:
    name = unique("updated")
    create_pod(owner, pod(name), dry_run=False)
    refused(
        lambda: owner.core.patch_namespaced_pod(
            name, NAMESPACE, {"spec": {"containers": [{"name": "app", "image": OUTSIDE}]}}
        ),
        "spec.containers[0].image",
        OUTSIDE,
    )
    owner.core.patch_namespaced_pod(
        name,
        NAMESPACE,
        {"spec": {"containers": [{"name": "app", "image": "registry.fr.example/app:2"}]}},
    )
    owner.core.patch_namespaced_pod(name, NAMESPACE, {"metadata": {"labels": {"seen": "yes"}}})


def _template(image: str) -> dict[str, Any]:
    return {"metadata": {"labels": {"app": "w"}}, "spec": pod_spec(image)}


def _selected(image: str) -> dict[str, Any]:
    return {"selector": {"matchLabels": {"app": "w"}}, "template": _template(image)}


Writer = Callable[[Owner, str], Any]
WORKLOADS: dict[str, tuple[Writer, str]] = {
    "deployment": (
        lambda o, image: o.apps.create_namespaced_deployment(
            NAMESPACE, {"metadata": {"name": unique("d")}, "spec": _selected(image)}, dry_run="All"
        ),
        "spec.template.spec.containers[0].image",
    ),
    "replicaset": (
        lambda o, image: o.apps.create_namespaced_replica_set(
            NAMESPACE, {"metadata": {"name": unique("rs")}, "spec": _selected(image)}, dry_run="All"
        ),
        "spec.template.spec.containers[0].image",
    ),
    "statefulset": (
        lambda o, image: o.apps.create_namespaced_stateful_set(
            NAMESPACE,
            {"metadata": {"name": unique("s")}, "spec": {**_selected(image), "serviceName": "s"}},
            dry_run="All",
        ),
        "spec.template.spec.containers[0].image",
    ),
    "daemonset": (
        lambda o, image: o.apps.create_namespaced_daemon_set(
            NAMESPACE, {"metadata": {"name": unique("ds")}, "spec": _selected(image)}, dry_run="All"
        ),
        "spec.template.spec.containers[0].image",
    ),
    "job": (
        lambda o, image: o.batch.create_namespaced_job(
            NAMESPACE,
            {
                "metadata": {"name": unique("j")},
                "spec": {"template": {"spec": {**pod_spec(image), "restartPolicy": "Never"}}},
            },
            dry_run="All",
        ),
        "spec.template.spec.containers[0].image",
    ),
    "cronjob": (
        lambda o, image: o.batch.create_namespaced_cron_job(
            NAMESPACE,
            {
                "metadata": {"name": unique("cj")},
                "spec": {
                    "schedule": "0 3 * * *",
                    "jobTemplate": {
                        "spec": {
                            "template": {"spec": {**pod_spec(image), "restartPolicy": "Never"}}
                        }
                    },
                },
            },
            dry_run="All",
        ),
        "spec.jobTemplate.spec.template.spec.containers[0].image",
    ),
    "replicationcontroller": (
        lambda o, image: o.core.create_namespaced_replication_controller(
            NAMESPACE,
            {
                "metadata": {"name": unique("rc")},
                "spec": {"selector": {"app": "w"}, "template": _template(image)},
            },
            dry_run="All",
        ),
        "spec.template.spec.containers[0].image",
    ),
    "podtemplate": (
        lambda o, image: o.core.create_namespaced_pod_template(
            NAMESPACE, {"metadata": {"name": unique("pt")}, "template": _template(image)}
        ),
        "template.spec.containers[0].image",
    ),
}


@pytest.mark.parametrize("kind", list(WORKLOADS))
def test_every_workload_template_is_checked(
    owner: Owner, state: str, cleanup: None, kind: str
) -> None:
    write, field = WORKLOADS[kind]
    refused(lambda: write(owner, "nginx"), field, "docker.io/library/nginx")
    write(owner, "registry.fr.example/app:1")


# -- the profile's list --------------------------------------------------------


def _set_registries(api: Any, registries: list[str]) -> None:
    client.CustomObjectsApi(api).patch_cluster_custom_object(
        GROUP,
        VERSION,
        "sovereigntyprofiles",
        PROFILE,
        {"spec": {"images": {"allowedRegistries": registries}}},
    )


def _accepted(owner: Owner, image: str) -> bool:
    try:
        create_pod(owner, pod(unique("edit"), image))
    except ApiException as error:
        if error.status in (403, 422) and POD_CHECKS in str(error.body):
            return False
        raise
    return True


def test_a_profile_edit_takes_effect(api: Any, owner: Owner, state: str) -> None:
    image = "registry.de.example/app:1"
    assert not _accepted(owner, image)
    _set_registries(api, [*ALLOWED, "registry.de.example"])
    try:
        wait_for(lambda: _accepted(owner, image), "the added registry to be allowed")
        _set_registries(api, [])
        wait_for(lambda: _accepted(owner, OUTSIDE), "an empty list to allow every image")
    finally:
        _set_registries(api, ALLOWED)
    wait_for(lambda: not _accepted(owner, image), "the list to be restored")


# -- the property: the API server decides as the evaluator does -----------------

_HOSTS = [
    *["registry.fr.example"] * 4,
    "registry.fr.example.evil.com",
    "evil.example",
    "docker.io",
    "index.docker.io",
    "localhost",
    "registry",
    "fr.example",
]
_SEGMENTS = ["team-a", "team-ab", "team", "souverain", "library", "busybox", "app", "a.b", "x__y"]


def _case(rng: random.Random, text: str) -> str:
    return "".join(c.upper() if rng.random() < 0.3 else c for c in text)


def reference(rng: random.Random) -> str:
    """A reference mixing the forms the policy must tell apart."""
    parts = []
    if rng.random() < 0.75:
        host = rng.choice(_HOSTS)
        host = _case(rng, host) if rng.random() < 0.3 else host
        if rng.random() < 0.3:
            host += rng.choice([":5000", ":443", ":"])
        parts.append(host)
    parts += [rng.choice(_SEGMENTS) for _ in range(rng.choice([1, 1, 2, 3]))]
    text = "/".join(parts)
    if rng.random() < 0.4:
        text += ":" + rng.choice(["1.36", "latest", "v2_rc", "0123456789abcdef" * 4, "-bad"])
    if rng.random() < 0.3:
        text += "@" + rng.choice([DIGEST, "sha256:abc", "sha512:" + "ab" * 64])
    if rng.random() < 0.1:
        text = rng.choice(["https://", "", "A"]) + text + rng.choice(["/", "", "//x", " y"])
    if rng.random() < 0.05:
        text = rng.choice([DIGEST, "sha512:" + "cd" * 64, "0123456789abcdef" * 4])
    return text


@pytest.mark.parametrize("seed", [14, 1789])
def test_the_api_server_decides_as_the_evaluator(owner: Owner, state: str, seed: int) -> None:
    rng = random.Random(seed)
    references = sorted({reference(rng) for _ in range(200)})
    disagreements = []
    for image in references:
        expected = decide(ALLOWED, image)
        if _accepted(owner, image) != expected:
            disagreements.append(
                f"{image!r}: evaluator says {'allowed' if expected else 'refused'}"
            )
    assert not disagreements, "\n".join(disagreements)
    assert sum(decide(ALLOWED, image) for image in references) >= 20
    assert sum(not decide(ALLOWED, image) for image in references) >= 20


# -- the CRD ---------------------------------------------------------------------

INVALID_ENTRIES = {
    "scheme": "https://registry.fr.example",
    "tag": "registry.fr.example/app:1",
    "digest": f"registry.fr.example/app@{DIGEST}",
    "upper-case-host": "Registry.fr.example",
    "upper-case-path": "registry.fr.example/Team",
    "empty-segment": "registry.fr.example//team",
    "trailing-slash": "registry.fr.example/",
    "host-without-dot": "registry",
    "space": "registry.fr.example/team a",
    "empty": "",
}


@pytest.mark.parametrize("entry", INVALID_ENTRIES.values(), ids=list(INVALID_ENTRIES))
def test_the_crd_refuses_an_entry_it_cannot_compare(
    api: Any, souverain_crds: None, entry: str
) -> None:
    refused(
        lambda: Tenancy(api).profile(unique("bad-images"), images={"allowedRegistries": [entry]}),
        "spec.images.allowedRegistries[0]",
    )


def test_the_crd_refuses_the_legacy_docker_hub_name(api: Any, souverain_crds: None) -> None:
    refused(
        lambda: Tenancy(api).profile(
            unique("bad-images"), images={"allowedRegistries": ["index.docker.io/library"]}
        ),
        "spec.images.allowedRegistries",
        "write docker.io",
    )


def _explained(cluster: Cluster, what: str) -> str | None:
    result = cluster.kubectl("explain", what, check=False)
    return " ".join(result.stdout.split()) if result.returncode == 0 else None


def test_kubectl_explains_the_field(cluster: Cluster, souverain_crds: None) -> None:
    text = wait_for(
        lambda: _explained(cluster, "sovereigntyprofile.spec.images.allowedRegistries"),
        "kubectl explain to answer",
    )
    assert "Empty or absent: images are not restricted (any registry)" in text
    assert "A prefix matches whole path segments" in text


# -- report and plan ---------------------------------------------------------------


def souverain(cluster: Cluster, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "-m", "souverain", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        timeout=120,
        check=False,
    )
    assert result.returncode in (0, 1), result.stderr
    return result.stdout


def test_report_and_plan_show_images_and_registries(
    cluster: Cluster, api: Any, owner: Owner, tmp_path: Path
) -> None:
    """A pod the platform ran from outside the registries (an administrator passes the
    policy) is a violation in the report, and a profile listing fewer registries shows in
    the plan which pods it would refuse."""
    core = client.CoreV1Api(api)
    core.create_namespaced_pod(NAMESPACE, pod("inside", "busybox:1.36"))
    core.create_namespaced_pod(NAMESPACE, pod("outside", OUTSIDE))
    try:
        report = Report.model_validate_json(souverain(cluster, "report", "--namespace", NAMESPACE))
        (part,) = report.namespaces
        images = {entry.image: entry for entry in part.images}
        assert images["busybox:1.36"].registry == "docker.io"
        assert images["busybox:1.36"].allowed is True
        assert images[OUTSIDE].registry == "evil.example"
        assert images[OUTSIDE].allowed is False
        assert images[OUTSIDE].pods == ["outside"]
        assert part.allowed_registries == ALLOWED
        outside = [v for v in part.violations if v.kind == "ImageOutsideRegistries"]
        assert [v.object for v in outside] == ["Pod/outside"]
        assert report.summary.pods_with_images_outside_registries == 1

        narrower = {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SovereigntyProfile",
            "metadata": {"name": PROFILE},
            "spec": {
                "nodeRequirements": SOVEREIGN_NODES,
                "images": {"allowedRegistries": ["registry.fr.example"]},
            },
        }
        path = tmp_path / "narrower.yaml"
        path.write_text(yaml.safe_dump(narrower))
        planned = json.loads(souverain(cluster, "plan", "-f", str(path), "--format", "json"))
        (effect,) = planned["namespaces"]
        assert [line.split(":")[0] for line in effect["refusedImages"]] == ["inside", "outside"]
        text = souverain(cluster, "plan", "-f", str(path))
        assert "pods whose images would be refused" in text
        assert "this change breaks something" in text
    finally:
        core.delete_collection_namespaced_pod(NAMESPACE, grace_period_seconds=0)
