"""Snapshots stay resident, on the real control plane: the dev cluster serves the
snapshot API; a namespace owner cannot take a snapshot of a class the profile does not
allow, bind a pre-provisioned content, or restore a claim (directly, from a StatefulSet
template, or as an ephemeral volume) from a snapshot of another namespace or from
something spelled like a snapshot; each route is tried with the operator up and with it
stopped, and what lies inside the profile is accepted in both states. The report and
``souverain plan`` list the snapshots.

No snapshot controller runs here: a bound snapshot is simulated by writing the status
of a VolumeSnapshot and of a VolumeSnapshotContent made by hand, as the controller would.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain.report.schema import Report
from tests.support.cluster import Cluster, wait_for
from tests.support.escape_routes import refused
from tests.support.operator import Operator
from tests.support.states import OPERATOR_STATES, operator_in
from tests.support.tenancy import GROUP, SOVEREIGN_NODES, VERSION, Tenancy

RUN = uuid.uuid4().hex[:6]
PROFILE = f"snapshots-{RUN}"
NAMESPACE = f"snapshots-{RUN}"
OTHER = f"snapshots-other-{RUN}"
OWNER = f"sam-{RUN}"
STORAGE_CLASS = f"snap-fr-ssd-{RUN}"
FR_SNAPSHOTS = f"snap-fr-{RUN}"
US_SNAPSHOTS = f"snap-us-{RUN}"
SNAPSHOT_GROUP, SNAPSHOT_VERSION = "snapshot.storage.k8s.io", "v1"
SNAPSHOT_ROLE = f"snapshot-user-{RUN}"


@dataclass
class Tenant:
    namespace: str
    owner: Any
    admin: Any

    @property
    def snapshots(self) -> Any:
        return client.CustomObjectsApi(self.owner)

    def create_snapshot(self, body: dict[str, Any]) -> Any:
        return self.snapshots.create_namespaced_custom_object(
            SNAPSHOT_GROUP, SNAPSHOT_VERSION, self.namespace, "volumesnapshots", body
        )


def snapshot(name: str, snapshot_class: str | None = FR_SNAPSHOTS, **source: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"source": source or {"persistentVolumeClaimName": "data"}}
    if snapshot_class is not None:
        spec["volumeSnapshotClassName"] = snapshot_class
    return {
        "apiVersion": f"{SNAPSHOT_GROUP}/{SNAPSHOT_VERSION}",
        "kind": "VolumeSnapshot",
        "metadata": {"name": name},
        "spec": spec,
    }


def snapshot_ref(name: str = "fr-snap", **extra: str) -> dict[str, Any]:
    return {"apiGroup": SNAPSHOT_GROUP, "kind": "VolumeSnapshot", "name": name, **extra}


def claim_spec(**source: Any) -> dict[str, Any]:
    return {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
        "storageClassName": STORAGE_CLASS,
        **source,
    }


def claim(name: str, **source: Any) -> dict[str, Any]:
    return {"metadata": {"name": name}, "spec": claim_spec(**source)}


def statefulset(name: str, **source: Any) -> dict[str, Any]:
    labels = {"app": name}
    return {
        "metadata": {"name": name},
        "spec": {
            "serviceName": name,
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {
                "metadata": {"labels": labels},
                "spec": {"containers": [{"name": "app", "image": "registry.example/app:1"}]},
            },
            "volumeClaimTemplates": [{"metadata": {"name": "data"}, "spec": claim_spec(**source)}],
        },
    }


def ephemeral_pod(name: str, **source: Any) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "containers": [{"name": "app", "image": "registry.example/app:1"}],
            "volumes": [
                {
                    "name": "scratch",
                    "ephemeral": {"volumeClaimTemplate": {"spec": claim_spec(**source)}},
                }
            ],
        },
    }


def deployment(name: str, **source: Any) -> dict[str, Any]:
    labels = {"app": name}
    template = ephemeral_pod(name, **source)
    return {
        "metadata": {"name": name},
        "spec": {
            "replicas": 0,
            "selector": {"matchLabels": labels},
            "template": {"metadata": {"labels": labels}, "spec": template["spec"]},
        },
    }


def _gone(read: Callable[[], Any]) -> bool:
    try:
        read()
    except ApiException as error:
        return error.status == 404
    return False


@pytest.fixture(scope="module")
def tenant(cluster: Cluster, api: Any, operator: Operator) -> Iterator[Tenant]:
    """A namespace bound to a profile that allows the snapshot class FR_SNAPSHOTS, owned
    by sam, who may also use VolumeSnapshots there (the admin role does not cover the
    snapshot API; platforms grant it as here); and an unbound namespace with a snapshot."""
    storage = client.StorageV1Api(api)
    storage.create_storage_class(
        {
            "metadata": {"name": STORAGE_CLASS},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
        }
    )
    objects = client.CustomObjectsApi(api)
    for name, driver, region in (
        (FR_SNAPSHOTS, "csi.fr.example", "fr-paris"),
        (US_SNAPSHOTS, "csi.us.example", "us-east"),
    ):
        objects.create_cluster_custom_object(
            SNAPSHOT_GROUP,
            SNAPSHOT_VERSION,
            "volumesnapshotclasses",
            {
                "apiVersion": f"{SNAPSHOT_GROUP}/{SNAPSHOT_VERSION}",
                "kind": "VolumeSnapshotClass",
                "metadata": {"name": name},
                "driver": driver,
                "deletionPolicy": "Delete",
                "parameters": {"region": region},
            },
        )
    tenancy = Tenancy(api)
    tenancy.profile(
        PROFILE,
        storage={
            "allowedClasses": [STORAGE_CLASS],
            "allowedSnapshotClasses": [FR_SNAPSHOTS],
            "topology": {"regions": ["fr-paris"]},
        },
    )
    tenancy.namespace(NAMESPACE, PROFILE, owners=[{"kind": "User", "name": OWNER}])
    tenancy.wait(NAMESPACE)
    core = client.CoreV1Api(api)
    wait_for(lambda: core.read_namespaced_service_account("default", NAMESPACE), "default SA")
    rbac = client.RbacAuthorizationV1Api(api)
    tenancy.grant(
        SNAPSHOT_ROLE,
        NAMESPACE,
        OWNER,
        [
            {
                "apiGroups": [SNAPSHOT_GROUP],
                "resources": ["volumesnapshots"],
                "verbs": ["get", "list", "watch", "create", "update", "patch", "delete"],
            }
        ],
    )
    core.create_namespace({"metadata": {"name": OTHER}})
    objects.create_namespaced_custom_object(
        SNAPSHOT_GROUP,
        SNAPSHOT_VERSION,
        OTHER,
        "volumesnapshots",
        snapshot("elsewhere", US_SNAPSHOTS),
    )
    with cluster.api(impersonate=OWNER) as owner:
        mine = Tenant(NAMESPACE, owner, api)
        wait_for(
            lambda: mine.snapshots.list_namespaced_custom_object(
                SNAPSHOT_GROUP, SNAPSHOT_VERSION, NAMESPACE, "volumesnapshots"
            ),
            "sam's right to use snapshots",
        )
        wait_for(lambda: client.CoreV1Api(owner).list_namespaced_pod(NAMESPACE), "sam's admin role")
        assert _in_force(mine), f"the snapshot policies are not in force in {NAMESPACE} at Ready"
        yield mine
    core.delete_namespace(OTHER)
    tenancy.delete("sovereignnamespaces", NAMESPACE)
    wait_for(lambda: _gone(lambda: core.read_namespace(NAMESPACE)), "the namespace", timeout=120)
    tenancy.delete("sovereigntyprofiles", PROFILE)
    rbac.delete_cluster_role(SNAPSHOT_ROLE)
    for name in (FR_SNAPSHOTS, US_SNAPSHOTS):
        objects.delete_cluster_custom_object(
            SNAPSHOT_GROUP, SNAPSHOT_VERSION, "volumesnapshotclasses", name
        )
    storage.delete_storage_class(STORAGE_CLASS)


def _in_force(tenant: Tenant) -> bool:
    """Whether the bindings refuse yet (a new binding takes a moment to be in force),
    probed with dry runs of a snapshot without class and of a pod whose ephemeral
    volume restores from something spelled like a snapshot."""
    lookalike = {
        "dataSourceRef": {"apiGroup": SNAPSHOT_GROUP, "kind": "volumesnapshot", "name": "s"}
    }
    probes: list[Callable[[], Any]] = [
        lambda: tenant.snapshots.create_namespaced_custom_object(
            SNAPSHOT_GROUP,
            SNAPSHOT_VERSION,
            tenant.namespace,
            "volumesnapshots",
            snapshot("probe", None),
            dry_run="All",
        ),
        lambda: client.CoreV1Api(tenant.owner).create_namespaced_persistent_volume_claim(
            tenant.namespace, claim("probe", **lookalike), dry_run="All"
        ),
        lambda: client.AppsV1Api(tenant.owner).create_namespaced_stateful_set(
            tenant.namespace, statefulset("probe", **lookalike), dry_run="All"
        ),
    ]
    for probe in probes:
        try:
            probe()
        except ApiException as error:
            if error.status == 403 and "souverain-snapshot" in str(error.body):
                continue
        return False
    return True


@pytest.fixture(scope="module", params=OPERATOR_STATES)
def state(request: pytest.FixtureRequest, tenant: Tenant, operator: Operator) -> Iterator[str]:
    """Runs each test that asks for it once with the operator up, once with it stopped."""
    yield from operator_in(request.param, operator)


@pytest.fixture
def cleanup(tenant: Tenant) -> Iterator[None]:
    """Removes what a test created in the tenant's namespace, as the administrator."""
    yield
    admin = tenant.admin
    client.AppsV1Api(admin).delete_collection_namespaced_stateful_set(tenant.namespace)
    client.AppsV1Api(admin).delete_collection_namespaced_deployment(tenant.namespace)
    core = client.CoreV1Api(admin)
    core.delete_collection_namespaced_pod(tenant.namespace, grace_period_seconds=0)
    core.delete_collection_namespaced_persistent_volume_claim(
        tenant.namespace, label_selector="!souverain.io/resident-volume"
    )
    client.CustomObjectsApi(admin).delete_collection_namespaced_custom_object(
        SNAPSHOT_GROUP, SNAPSHOT_VERSION, tenant.namespace, "volumesnapshots"
    )


def _served_versions(api: Any) -> set[str]:
    groups = client.ApisApi(api).get_api_versions().groups
    return {v.version for g in groups if g.name == SNAPSHOT_GROUP for v in g.versions}


# -- the snapshot API -------------------------------------------------------------------


def test_the_dev_cluster_serves_the_snapshot_api(cluster: Cluster, api: Any) -> None:
    if cluster.kind != "local":
        pytest.skip("the snapshot API is installed by the local control plane only")
    # Only v1: no older version is a route around the policies (which would match it as
    # equivalent anyway).
    assert _served_versions(api) == {SNAPSHOT_VERSION}
    shown = cluster.kubectl("api-resources", f"--api-group={SNAPSHOT_GROUP}", "-o", "name")
    assert set(shown.stdout.split()) == {
        f"volumesnapshotclasses.{SNAPSHOT_GROUP}",
        f"volumesnapshotcontents.{SNAPSHOT_GROUP}",
        f"volumesnapshots.{SNAPSHOT_GROUP}",
    }


def test_the_field_is_validated_by_the_crd(api: Any, souverain_crds: None) -> None:
    tenancy = Tenancy(api)
    for classes, expected in (
        (["Not_A_Name"], "allowedSnapshotClasses[0]"),
        (["fr", "fr"], "allowedSnapshotClasses[1]"),
        ([f"c{i}" for i in range(33)], "allowedSnapshotClasses"),
    ):
        refused(
            lambda classes=classes: tenancy.profile_of(
                f"bad-snapshots-{uuid.uuid4().hex[:6]}",
                {
                    "nodeRequirements": SOVEREIGN_NODES,
                    "storage": {"allowedSnapshotClasses": classes},
                },
            ),
            expected,
        )


def test_kubectl_explain_describes_the_field(cluster: Cluster, souverain_crds: None) -> None:
    shown = cluster.kubectl(
        "explain", "sovereigntyprofiles.spec.storage.allowedSnapshotClasses"
    ).stdout
    assert "VolumeSnapshot must name one of them" in " ".join(shown.split())
    assert "refused when the list is empty" in " ".join(shown.split())


# -- routes, with the operator up and stopped ----------------------------------------


def test_a_snapshot_without_class_is_refused(tenant: Tenant, state: str, cleanup: None) -> None:
    refused(
        lambda: tenant.create_snapshot(snapshot("no-class", None)),
        "spec.volumeSnapshotClassName",
        "name one of the classes",
        FR_SNAPSHOTS,
    )


def test_a_snapshot_of_a_class_not_allowed_is_refused(
    tenant: Tenant, state: str, cleanup: None
) -> None:
    refused(
        lambda: tenant.create_snapshot(snapshot("abroad", US_SNAPSHOTS)),
        f"spec.volumeSnapshotClassName {US_SNAPSHOTS} is not allowed",
        f"only {FR_SNAPSHOTS}",
    )


def test_a_pre_provisioned_content_is_refused(tenant: Tenant, state: str, cleanup: None) -> None:
    refused(
        lambda: tenant.create_snapshot(
            snapshot("adopted", FR_SNAPSHOTS, volumeSnapshotContentName="someone-elses")
        ),
        "spec.source.volumeSnapshotContentName someone-elses",
        "pre-provisioned",
    )


def test_a_class_changed_by_update_is_refused(tenant: Tenant, state: str, cleanup: None) -> None:
    tenant.create_snapshot(snapshot("moving"))
    refused(
        lambda: tenant.snapshots.patch_namespaced_custom_object(
            SNAPSHOT_GROUP,
            SNAPSHOT_VERSION,
            tenant.namespace,
            "volumesnapshots",
            "moving",
            {"spec": {"volumeSnapshotClassName": US_SNAPSHOTS}},
        ),
        f"spec.volumeSnapshotClassName {US_SNAPSHOTS}",
    )


CREATE_FORMS: dict[str, Callable[[Tenant, str, dict[str, Any]], Any]] = {
    "claim": lambda t, name, source: client.CoreV1Api(
        t.owner
    ).create_namespaced_persistent_volume_claim(t.namespace, claim(name, **source)),
    "statefulset": lambda t, name, source: client.AppsV1Api(t.owner).create_namespaced_stateful_set(
        t.namespace, statefulset(name, **source)
    ),
    "ephemeral-pod": lambda t, name, source: client.CoreV1Api(t.owner).create_namespaced_pod(
        t.namespace, ephemeral_pod(name, **source)
    ),
    "ephemeral-deployment": lambda t, name, source: client.AppsV1Api(
        t.owner
    ).create_namespaced_deployment(t.namespace, deployment(name, **source)),
}
PATHS = {
    "claim": "spec.",
    "statefulset": "spec.volumeClaimTemplates[0] data: spec.",
    "ephemeral-pod": "spec.volumes[0] scratch: ephemeral.volumeClaimTemplate.spec.",
    "ephemeral-deployment": (
        "spec.template.spec.volumes[0] scratch: ephemeral.volumeClaimTemplate.spec."
    ),
}


LOOKALIKES = {
    "kind-in-lower-case": {"apiGroup": SNAPSHOT_GROUP, "kind": "volumesnapshot", "name": "s"},
    "a-content": {"apiGroup": SNAPSHOT_GROUP, "kind": "VolumeSnapshotContent", "name": "c"},
    "a-longer-group": {
        "apiGroup": "snapshot.storage.k8s.io.example",
        "kind": "VolumeSnapshot",
        "name": "s",
    },
}


@pytest.mark.parametrize("form", list(CREATE_FORMS))
def test_a_snapshot_group_in_another_case_is_refused_by_the_api_server(
    tenant: Tenant, state: str, cleanup: None, form: str
) -> None:
    mixed = {"apiGroup": "Snapshot.Storage.K8s.io", "kind": "VolumeSnapshot", "name": "s"}
    refused(
        lambda: CREATE_FORMS[form](tenant, "mixed", {"dataSourceRef": mixed}),
        "dataSourceRef.apiGroup",
        "lowercase",
    )


@pytest.mark.parametrize("form", list(CREATE_FORMS))
@pytest.mark.parametrize("field", ["dataSource", "dataSourceRef"])
@pytest.mark.parametrize("lookalike", list(LOOKALIKES))
def test_a_source_spelled_like_a_snapshot_is_refused(
    tenant: Tenant, state: str, cleanup: None, form: str, field: str, lookalike: str
) -> None:
    source = {field: LOOKALIKES[lookalike]}
    create = lambda: CREATE_FORMS[form](tenant, f"look-{uuid.uuid4().hex[:6]}", source)  # noqa: E731
    if form == "claim" and field == "dataSource":
        # The API server drops a claim's dataSource that is neither a claim nor a
        # VolumeSnapshot before admission: the claim restores from nothing.
        created = create()
        assert created.spec.data_source is None, created.spec
        assert created.spec.data_source_ref is None, created.spec
        return
    # A claim's dataSourceRef is copied to its dataSource, which is checked first.
    named = "dataSource" if form == "claim" else field
    refused(
        create,
        f"{PATHS[form]}{named} names kind {LOOKALIKES[lookalike]['kind']}",
        "is not a VolumeSnapshot as the API names one",
    )


@pytest.mark.parametrize("form", list(CREATE_FORMS))
def test_a_snapshot_of_another_namespace_is_not_restored(
    tenant: Tenant, state: str, cleanup: None, form: str
) -> None:
    """Unless the CrossNamespaceVolumeDataSource gate is on, the API server drops
    dataSourceRef.namespace before admission; either way, nothing may be left that
    restores from the other namespace."""
    name = f"cross-{uuid.uuid4().hex[:6]}"
    source = {"dataSourceRef": snapshot_ref("elsewhere", namespace=OTHER)}
    outcome: Any
    try:
        outcome = CREATE_FORMS[form](tenant, name, source)
    except ApiException as error:
        outcome = error
    if isinstance(outcome, ApiException):
        assert outcome.status in (403, 422), outcome.body
        message = json.loads(outcome.body)["message"]
        if "another namespace" in message:
            assert f"{PATHS[form]}dataSourceRef.namespace {OTHER}" in message
        return
    created = outcome
    written = json.dumps(tenant.owner.sanitize_for_serialization(created))
    assert OTHER not in written, f"the {form} keeps the other namespace: {written}"


@pytest.mark.parametrize("form", list(CREATE_FORMS))
@pytest.mark.parametrize("field", ["dataSource", "dataSourceRef"])
def test_a_restore_from_a_snapshot_of_the_namespace_is_accepted(
    tenant: Tenant, state: str, cleanup: None, form: str, field: str
) -> None:
    tenant.create_snapshot(snapshot("fr-snap"))
    own = {} if field == "dataSource" else {"namespace": NAMESPACE}
    CREATE_FORMS[form](tenant, f"restore-{uuid.uuid4().hex[:6]}", {field: snapshot_ref(**own)})


def test_a_claim_cloned_from_a_claim_is_accepted(tenant: Tenant, state: str, cleanup: None) -> None:
    CREATE_FORMS["claim"](
        tenant, "clone", {"dataSource": {"kind": "PersistentVolumeClaim", "name": "data"}}
    )


# -- the report and the plan ------------------------------------------------------------


def souverain(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "souverain", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        timeout=120,
        check=False,
    )


@pytest.fixture
def bound_snapshots(tenant: Tenant, cleanup: None) -> Iterator[None]:
    """Two snapshots made by the administrator and bound by hand, as the snapshot
    controller would: ``legacy`` of the US class, on a content labelled us-east, and
    ``kept`` of the French class, whose content says nothing (its class says fr-paris)."""
    objects = client.CustomObjectsApi(tenant.admin)
    for name, snapshot_class, driver, labels in (
        ("legacy", US_SNAPSHOTS, "csi.us.example", {"topology.kubernetes.io/region": "us-east"}),
        ("kept", FR_SNAPSHOTS, "csi.fr.example", {}),
    ):
        content = f"{name}-{RUN}"
        objects.create_cluster_custom_object(
            SNAPSHOT_GROUP,
            SNAPSHOT_VERSION,
            "volumesnapshotcontents",
            {
                "apiVersion": f"{SNAPSHOT_GROUP}/{SNAPSHOT_VERSION}",
                "kind": "VolumeSnapshotContent",
                "metadata": {"name": content, "labels": labels},
                "spec": {
                    "deletionPolicy": "Retain",
                    "driver": driver,
                    "source": {"snapshotHandle": f"{name}-handle"},
                    "volumeSnapshotClassName": snapshot_class,
                    "volumeSnapshotRef": {"name": name, "namespace": tenant.namespace},
                },
            },
        )
        objects.create_namespaced_custom_object(
            SNAPSHOT_GROUP,
            SNAPSHOT_VERSION,
            tenant.namespace,
            "volumesnapshots",
            snapshot(name, snapshot_class, volumeSnapshotContentName=content),
        )
        objects.patch_cluster_custom_object_status(
            SNAPSHOT_GROUP,
            SNAPSHOT_VERSION,
            "volumesnapshotcontents",
            content,
            {"status": {"snapshotHandle": f"{name}-handle", "readyToUse": True}},
        )
        objects.patch_namespaced_custom_object_status(
            SNAPSHOT_GROUP,
            SNAPSHOT_VERSION,
            tenant.namespace,
            "volumesnapshots",
            name,
            {"status": {"boundVolumeSnapshotContentName": content, "readyToUse": True}},
        )
    yield
    for name in ("legacy", "kept"):
        objects.delete_cluster_custom_object(
            SNAPSHOT_GROUP, SNAPSHOT_VERSION, "volumesnapshotcontents", f"{name}-{RUN}"
        )


def test_the_report_lists_snapshots_their_content_and_where_they_live(
    cluster: Cluster, tenant: Tenant, bound_snapshots: None
) -> None:
    result = souverain(cluster, "report", "--namespace", NAMESPACE)
    assert result.returncode == 0, result.stderr
    (part,) = Report.model_validate_json(result.stdout).namespaces
    found = {entry.name: entry for entry in part.snapshots}
    legacy, kept = found["legacy"], found["kept"]
    assert (legacy.snapshot_class, legacy.class_allowed) == (US_SNAPSHOTS, False)
    assert (legacy.content, legacy.driver, legacy.snapshot_handle) == (
        f"legacy-{RUN}",
        "csi.us.example",
        "legacy-handle",
    )
    assert (legacy.region, legacy.resident) == ("us-east", False)
    assert legacy.location_from == f"labels of VolumeSnapshotContent legacy-{RUN}"
    assert (kept.class_allowed, kept.region, kept.resident) == (True, "fr-paris", True)
    assert kept.location_from == f"parameters of VolumeSnapshotClass {FR_SNAPSHOTS}"
    kinds = {(v.kind, v.object) for v in part.violations}
    assert ("SnapshotClassNotAllowed", "VolumeSnapshot/legacy") in kinds
    assert ("NonResidentSnapshot", "VolumeSnapshot/legacy") in kinds
    assert not any(v.object == "VolumeSnapshot/kept" for v in part.violations)
    page = souverain(cluster, "report", "--namespace", NAMESPACE, "--format", "html")
    assert page.returncode == 0, page.stderr
    assert "<h3>Snapshots</h3>" in page.stdout
    assert f"legacy-{RUN}" in page.stdout


def test_the_plan_lists_snapshots_a_profile_would_not_allow(
    cluster: Cluster, tenant: Tenant, bound_snapshots: None, tmp_path: Path
) -> None:
    objects = client.CustomObjectsApi(tenant.admin)
    current = objects.get_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", PROFILE)
    changed = {
        "apiVersion": f"{GROUP}/{VERSION}",
        "kind": "SovereigntyProfile",
        "metadata": {"name": PROFILE},
        "spec": {**current["spec"], "storage": {**current["spec"]["storage"]}},
    }
    changed["spec"]["storage"]["allowedSnapshotClasses"] = [US_SNAPSHOTS]
    path = tmp_path / "profile.yaml"
    path.write_text(yaml.safe_dump(changed))
    result = souverain(cluster, "plan", "-f", str(path), "--format", "json")
    assert result.returncode == 0, result.stderr
    (planned,) = json.loads(result.stdout)["namespaces"]
    assert planned["snapshotsOutsideClasses"] == [f"kept: class {FR_SNAPSHOTS}"]
    text = souverain(cluster, "plan", "-f", str(path))
    assert f"kept: class {FR_SNAPSHOTS}" in text.stdout
    assert "snapshots of a class it would not allow" in text.stdout
    assert "this change breaks something" in text.stdout
