"""ResidentVolumes on the real control plane, with the operator running.

kube-scheduler's volume binding and kube-controller-manager's PV controller are real: a
``kubernetes.io/no-provisioner`` class binds late, and static local PVs sit on
French-sovereign and on non-sovereign kwok nodes. A pod pinned to sovereign nodes binds
a French volume, which the operator reports resident; a claim pointed at an American
volume is reported not resident. Classes the profile does not allow get no claim and are
refused by the API server for claims, StatefulSets and ephemeral volumes; volumes grow;
deletion retains or deletes the claim as the volume says."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain.admission.storage import CLAIMS, STATEFULSETS
from souverain.labels import MANAGED_BY, RESIDENT_VOLUME, RETAINED
from tests.support.cluster import Cluster, ignoring_absent, wait_for
from tests.support.operator import Operator

GROUP, VERSION, PLURAL = "souverain.io", "v1alpha1", "residentvolumes"
RUN = uuid.uuid4().hex[:6]
PROFILE = f"rv-profile-{RUN}"
LATE = f"rv-late-{RUN}"
IMMEDIATE = f"rv-immediate-{RUN}"
OUTSIDE = f"rv-outside-{RUN}"
OWNER = f"rv-owner-{RUN}"
SOVEREIGN = "node-restriction.kubernetes.io/french-sovereign"

pytestmark = pytest.mark.usefixtures("operator")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def storage_class(name: str, mode: str) -> dict[str, Any]:
    return {
        "apiVersion": "storage.k8s.io/v1",
        "kind": "StorageClass",
        "metadata": {"name": name},
        "provisioner": "kubernetes.io/no-provisioner",
        "volumeBindingMode": mode,
        "allowVolumeExpansion": True,
    }


@pytest.fixture(scope="module")
def objects(api: Any) -> Any:
    return client.CustomObjectsApi(api)


@pytest.fixture(scope="module")
def tenant(api: Any, objects: Any, souverain_crds: None) -> Iterator[str]:
    """A sovereign namespace on a profile that allows LATE (its default) and IMMEDIATE,
    in region fr-paris; OWNER administers it."""
    storage = client.StorageV1Api(api)
    for name, mode in ((LATE, "WaitForFirstConsumer"), (IMMEDIATE, "Immediate")):
        storage.create_storage_class(storage_class(name, mode))
    objects.create_cluster_custom_object(
        GROUP,
        VERSION,
        "sovereigntyprofiles",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SovereigntyProfile",
            "metadata": {"name": PROFILE},
            "spec": {
                "nodeRequirements": [{"key": SOVEREIGN, "operator": "In", "values": ["true"]}],
                "storage": {
                    "allowedClasses": [LATE, IMMEDIATE],
                    "defaultClass": LATE,
                    "topology": {"regions": ["fr-paris"]},
                },
            },
        },
    )
    name = unique("rv-tenant")
    objects.create_cluster_custom_object(
        GROUP,
        VERSION,
        "sovereignnamespaces",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SovereignNamespace",
            "metadata": {"name": name},
            "spec": {
                "profileName": PROFILE,
                "owners": [{"kind": "User", "name": OWNER}],
                "deletionPolicy": "Delete",
            },
        },
    )

    def ready() -> bool:
        found = objects.get_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces", name)
        conditions = (found.get("status") or {}).get("conditions") or []
        return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)

    wait_for(ready, f"SovereignNamespace {name} to be Ready")
    core = client.CoreV1Api(api)
    wait_for(lambda: core.read_namespaced_service_account("default", name), "default SA")
    yield name
    for item in objects.list_namespaced_custom_object(GROUP, VERSION, name, PLURAL)["items"]:
        ignoring_absent(
            lambda item=item: objects.delete_namespaced_custom_object(
                GROUP, VERSION, name, PLURAL, item["metadata"]["name"]
            )
        )
    ignoring_absent(
        lambda: objects.delete_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces", name)
    )
    ignoring_absent(
        lambda: objects.delete_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", PROFILE)
    )
    for pv in core.list_persistent_volume(label_selector=f"rv-test={RUN}").items:
        ignoring_absent(lambda pv=pv: core.delete_persistent_volume(pv.metadata.name))
    for class_name in (LATE, IMMEDIATE):
        ignoring_absent(lambda class_name=class_name: storage.delete_storage_class(class_name))


# -- helpers ------------------------------------------------------------------


def local_pv(
    core: Any, node: str, *, size: str = "2Gi", claim: tuple[str, str] | None = None
) -> str:
    """A static local PV of class LATE on ``node``, optionally reserved for a claim."""
    name = unique(f"pv-{node}")
    spec: dict[str, Any] = {
        "capacity": {"storage": size},
        "accessModes": ["ReadWriteOnce"],
        "persistentVolumeReclaimPolicy": "Retain",
        "storageClassName": LATE,
        "volumeMode": "Filesystem",
        "local": {"path": f"/mnt/disks/{name}"},
        "nodeAffinity": {
            "required": {
                "nodeSelectorTerms": [
                    {
                        "matchExpressions": [
                            {"key": "kubernetes.io/hostname", "operator": "In", "values": [node]}
                        ]
                    }
                ]
            }
        },
    }
    if claim is not None:
        spec["claimRef"] = {"namespace": claim[0], "name": claim[1]}
    core.create_persistent_volume(
        {"metadata": {"name": name, "labels": {"rv-test": RUN}}, "spec": spec}
    )
    return name


def create_volume(objects: Any, namespace: str, name: str, **spec: Any) -> None:
    objects.create_namespaced_custom_object(
        GROUP,
        VERSION,
        namespace,
        PLURAL,
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "ResidentVolume",
            "metadata": {"name": name},
            "spec": {"size": "1Gi", "accessModes": ["ReadWriteOnce"], **spec},
        },
    )


def get_volume(objects: Any, namespace: str, name: str) -> dict[str, Any]:
    found: dict[str, Any] = objects.get_namespaced_custom_object(
        GROUP, VERSION, namespace, PLURAL, name
    )
    return found


def wait_condition(
    objects: Any, namespace: str, name: str, kind: str, status: str, reason: str | None = None
) -> dict[str, Any]:
    def seen() -> dict[str, Any] | None:
        body = get_volume(objects, namespace, name)
        for cond in (body.get("status") or {}).get("conditions") or []:
            if (cond["type"], cond["status"]) == (kind, status) and reason in (
                None,
                cond["reason"],
            ):
                return body
        return None

    return wait_for(seen, f"ResidentVolume {name} {kind}={status} {reason or ''}")


def condition_of(body: dict[str, Any], kind: str) -> dict[str, Any]:
    return next(c for c in body["status"]["conditions"] if c["type"] == kind)


def read_claim(core: Any, namespace: str, name: str) -> Any | None:
    try:
        return core.read_namespaced_persistent_volume_claim(name, namespace)
    except ApiException as error:
        if error.status == 404:
            return None
        raise


def gone(read: Callable[[], Any]) -> bool:
    try:
        read()
    except ApiException as error:
        if error.status == 404:
            return True
        raise
    return False


def events_of(core: Any, namespace: str, name: str) -> list[Any]:
    listed = core.list_namespaced_event(namespace, field_selector=f"involvedObject.name={name}")
    return [e for e in listed.items if e.involved_object.kind == "ResidentVolume"]


def metric(operator: Operator, series: str, **labels: str) -> float | None:
    with urllib.request.urlopen(operator.metrics_url, timeout=5) as response:
        text = response.read().decode()
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        if line.startswith(f"{series}{{"):
            head, _, value = line.rpartition(" ")
            found = ",".join(sorted(head[len(series) + 1 : -1].split(",")))
            if found == wanted:
                return float(value)
    return None


def pinned_pod(name: str, claim: str) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name},
        "spec": {
            "affinity": {
                "nodeAffinity": {
                    "requiredDuringSchedulingIgnoredDuringExecution": {
                        "nodeSelectorTerms": [
                            {
                                "matchExpressions": [
                                    {"key": SOVEREIGN, "operator": "In", "values": ["true"]}
                                ]
                            }
                        ]
                    }
                }
            },
            "containers": [{"name": "app", "image": "registry.example/app:1"}],
            "volumes": [{"name": "data", "persistentVolumeClaim": {"claimName": claim}}],
        },
    }


# -- the claim, binding and residency ----------------------------------------------


def test_a_pod_binds_a_french_volume_and_the_volume_is_resident(
    tenant: str, objects: Any, core: Any, cluster: Cluster, operator: Operator
) -> None:
    french = local_pv(core, "sov-fr-1")
    american = local_pv(core, "std-us-1")
    name = unique("ledger")
    create_volume(objects, tenant, name)

    pending = wait_condition(objects, tenant, name, "Bound", "False", "ClaimPending")
    assert pending["status"]["claimName"] == name
    assert condition_of(pending, "Resident")["status"] == "Unknown"
    claim = read_claim(core, tenant, name)
    assert claim is not None
    assert claim.spec.storage_class_name == LATE  # the profile's default class
    assert claim.metadata.labels[RESIDENT_VOLUME] == name
    assert claim.metadata.labels[MANAGED_BY] == "souverain"
    (owner,) = claim.metadata.owner_references
    assert (owner.kind, owner.name, owner.uid) == (
        "ResidentVolume",
        name,
        pending["metadata"]["uid"],
    )

    core.create_namespaced_pod(tenant, pinned_pod(unique("app"), name))
    body = wait_condition(objects, tenant, name, "Resident", "True", "WithinTopology")
    status = body["status"]
    assert status["volumeName"] == french
    assert (status["region"], status["zone"]) == ("fr-paris", "fr-paris-1")
    assert status["capacity"] == "2Gi"
    assert condition_of(body, "Bound")["reason"] == "ClaimBound"
    assert condition_of(body, "Ready")["status"] == "True"
    message = condition_of(body, "Resident")["message"]
    assert f"PersistentVolume {french} is on node sov-fr-1" in message
    assert core.read_persistent_volume(american).status.phase == "Available"

    (scheduled,) = wait_for(
        lambda: [p for p in core.list_namespaced_pod(tenant).items if p.spec.node_name],
        "the pod to be scheduled",
    )
    assert scheduled.spec.node_name == "sov-fr-1"  # where its volume is

    table = cluster.kubectl("get", "rv", name, "-n", tenant, "--no-headers").stdout.split()
    assert table[:7] == [name, "True", "True", "1Gi", "2Gi", "fr-paris", "fr-paris-1"]
    wide = cluster.kubectl("get", "rv", name, "-n", tenant, "-o", "wide").stdout
    assert french in wide

    labels = {"namespace": tenant, "name": name, "profile": PROFILE}
    wait_for(lambda: metric(operator, "souverain_volume_resident", **labels) == 1, "metric 1")
    core.delete_namespaced_pod(scheduled.metadata.name, tenant, grace_period_seconds=0)


def test_a_claim_pre_bound_to_an_american_volume_is_not_resident(
    tenant: str, objects: Any, core: Any, operator: Operator
) -> None:
    american = local_pv(core, "std-us-2")
    name = unique("foreign")
    create_volume(objects, tenant, name)
    wait_for(lambda: read_claim(core, tenant, name), f"claim {name}")
    core.patch_namespaced_persistent_volume_claim(name, tenant, {"spec": {"volumeName": american}})

    body = wait_condition(objects, tenant, name, "Resident", "False", "OutsideTopology")
    status = body["status"]
    assert status["volumeName"] == american
    assert (status["region"], status["zone"]) == ("us-east", "us-east-2")
    assert condition_of(body, "Bound")["status"] == "True"
    ready = condition_of(body, "Ready")
    assert (ready["status"], ready["reason"]) == ("False", "OutsideTopology")
    message = condition_of(body, "Resident")["message"]
    assert f"PersistentVolume {american} is on node std-us-2" in message
    assert "which do not qualify" in message

    warning = wait_for(
        lambda: [e for e in events_of(core, tenant, name) if e.reason == "OutsideTopology"],
        "the OutsideTopology Event",
    )
    assert warning[0].type == "Warning"
    assert american in warning[0].message
    labels = {"namespace": tenant, "name": name, "profile": PROFILE}
    wait_for(lambda: metric(operator, "souverain_volume_resident", **labels) == 0, "metric 0")
    assert (
        metric(operator, "souverain_resident_volumes", profile=PROFILE, resident="False") or 0
    ) >= 1


@pytest.mark.parametrize(
    ("class_name", "reason"),
    [(OUTSIDE, "StorageClassNotAllowed"), (IMMEDIATE, "StorageClassBindsAnywhere")],
)
def test_a_class_that_could_place_data_outside_gets_no_claim(
    tenant: str, objects: Any, core: Any, class_name: str, reason: str
) -> None:
    name = unique("refused")
    create_volume(objects, tenant, name, storageClassName=class_name)
    body = wait_condition(objects, tenant, name, "Bound", "False", reason)
    assert condition_of(body, "Resident")["reason"] == reason
    assert class_name in condition_of(body, "Bound")["message"]
    assert condition_of(body, "Ready")["reason"] == reason
    # The status is written after the decision not to make a claim.
    assert read_claim(core, tenant, name) is None
    assert "claimName" not in body["status"]


def test_growing_the_volume_resizes_its_claim(tenant: str, objects: Any, core: Any) -> None:
    name = unique("growing")
    local_pv(core, "sov-fr-2", size="4Gi", claim=(tenant, name))
    create_volume(objects, tenant, name, size="1Gi")
    wait_condition(objects, tenant, name, "Resident", "True", "WithinTopology")

    objects.patch_namespaced_custom_object(
        GROUP, VERSION, tenant, PLURAL, name, {"spec": {"size": "3Gi"}}
    )

    def resized() -> bool:
        claim = read_claim(core, tenant, name)
        return claim is not None and claim.spec.resources.requests["storage"] == "3Gi"

    wait_for(resized, f"claim {name} to request 3Gi")
    wait_for(
        lambda: [e for e in events_of(core, tenant, name) if e.reason == "ClaimResized"],
        "the ClaimResized Event",
    )
    with pytest.raises(ApiException) as shrink:
        objects.patch_namespaced_custom_object(
            GROUP, VERSION, tenant, PLURAL, name, {"spec": {"size": "2Gi"}}
        )
    assert "never shrink" in shrink.value.body


# -- deletion -------------------------------------------------------------------


def test_retain_leaves_the_claim_detached_and_a_new_volume_takes_it_back(
    tenant: str, objects: Any, core: Any
) -> None:
    name = unique("kept")
    create_volume(objects, tenant, name)
    wait_for(lambda: read_claim(core, tenant, name), f"claim {name}")
    objects.delete_namespaced_custom_object(GROUP, VERSION, tenant, PLURAL, name)
    wait_for(lambda: gone(lambda: get_volume(objects, tenant, name)), f"ResidentVolume {name} gone")

    claim = read_claim(core, tenant, name)
    assert claim is not None
    assert claim.metadata.deletion_timestamp is None
    assert not claim.metadata.owner_references
    assert claim.metadata.labels[RETAINED] == "true"
    assert claim.metadata.labels[RESIDENT_VOLUME] == name
    assert MANAGED_BY not in claim.metadata.labels

    create_volume(objects, tenant, name)
    body = wait_condition(objects, tenant, name, "Bound", "False", "ClaimPending")

    def adopted() -> bool:
        found = read_claim(core, tenant, name)
        refs = (found.metadata.owner_references or []) if found else []
        return [r.uid for r in refs] == [body["metadata"]["uid"]] and RETAINED not in (
            found.metadata.labels or {}
        )

    wait_for(adopted, f"claim {name} taken back")


def test_delete_removes_the_claim(tenant: str, objects: Any, core: Any) -> None:
    name = unique("dropped")
    create_volume(objects, tenant, name, reclaim="Delete")
    wait_for(lambda: read_claim(core, tenant, name), f"claim {name}")
    objects.delete_namespaced_custom_object(GROUP, VERSION, tenant, PLURAL, name)
    wait_for(
        lambda: gone(lambda: core.read_namespaced_persistent_volume_claim(name, tenant)),
        f"claim {name} deleted",
    )


def test_a_claim_that_is_not_the_volumes_is_never_touched(
    tenant: str, objects: Any, core: Any
) -> None:
    name = unique("squatted")
    core.create_namespaced_persistent_volume_claim(
        tenant,
        {
            "metadata": {"name": name, "labels": {"team": "payments"}},
            "spec": {
                "accessModes": ["ReadWriteOnce"],
                "storageClassName": LATE,
                "resources": {"requests": {"storage": "5Gi"}},
            },
        },
    )
    create_volume(objects, tenant, name, reclaim="Delete")
    body = wait_condition(objects, tenant, name, "Bound", "False", "ClaimConflict")
    assert "does not belong" in condition_of(body, "Bound")["message"]
    objects.delete_namespaced_custom_object(GROUP, VERSION, tenant, PLURAL, name)
    wait_for(lambda: gone(lambda: get_volume(objects, tenant, name)), f"ResidentVolume {name} gone")
    claim = read_claim(core, tenant, name)
    assert claim is not None
    assert claim.metadata.deletion_timestamp is None
    assert claim.metadata.labels == {"team": "payments"}
    assert not claim.metadata.owner_references


# -- admission ---------------------------------------------------------------------


def claim_body(class_name: str | None) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": "1Gi"}},
    }
    if class_name is not None:
        spec["storageClassName"] = class_name
    return {"metadata": {"name": unique("claim")}, "spec": spec}


def stateful_set(class_name: str) -> dict[str, Any]:
    return {
        "metadata": {"name": unique("db")},
        "spec": {
            "serviceName": "db",
            "replicas": 0,
            "selector": {"matchLabels": {"app": "db"}},
            "template": {
                "metadata": {"labels": {"app": "db"}},
                "spec": {"containers": [{"name": "db", "image": "registry.example/db:1"}]},
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "data"},
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": class_name,
                        "resources": {"requests": {"storage": "1Gi"}},
                    },
                }
            ],
        },
    }


def ephemeral_pod(class_name: str) -> dict[str, Any]:
    pod = pinned_pod(unique("scratch"), "unused")
    pod["spec"]["volumes"] = [
        {
            "name": "scratch",
            "ephemeral": {
                "volumeClaimTemplate": {
                    "spec": {
                        "accessModes": ["ReadWriteOnce"],
                        "storageClassName": class_name,
                        "resources": {"requests": {"storage": "1Gi"}},
                    }
                }
            },
        }
    ]
    return pod


def refusal(call: Callable[[], Any]) -> str | None:
    """The API server's refusal message (the call runs as a dry run), or None."""
    try:
        call()
    except ApiException as error:
        return str(json.loads(error.body)["message"])
    return None


@pytest.fixture(scope="module")
def owner(cluster: Cluster) -> Iterator[Any]:
    with cluster.api(impersonate=OWNER) as api_client:
        yield api_client


ALLOWS = f"SovereigntyProfile {PROFILE}, which allows only {LATE}, {IMMEDIATE}"
EPHEMERAL_CLASS = "ephemeral.volumeClaimTemplate.spec.storageClassName"
"""What the pod check of storage names when it refuses an ephemeral volume's class."""


def test_claims_on_classes_the_profile_does_not_allow_are_refused(
    tenant: str, owner: Any, api: Any
) -> None:
    core = client.CoreV1Api(owner)

    def create(class_name: str | None) -> Callable[[], Any]:
        return lambda: core.create_namespaced_persistent_volume_claim(
            tenant, claim_body(class_name), dry_run="All"
        )

    refused = wait_for(
        lambda: (r := refusal(create(OUTSIDE))) and CLAIMS in r and r,
        "the storage policy to refuse a claim",
    )
    assert f"spec.storageClassName {OUTSIDE} is not allowed by {ALLOWS}" in refused
    missing = refusal(create(None))
    assert missing is not None
    assert "a PersistentVolumeClaim without spec.storageClassName is not allowed" in missing
    assert refusal(create(LATE)) is None
    # A cluster administrator is not checked.
    admin = client.CoreV1Api(api)
    assert (
        refusal(
            lambda: admin.create_namespaced_persistent_volume_claim(
                tenant, claim_body(OUTSIDE), dry_run="All"
            )
        )
        is None
    )


def test_stateful_sets_and_ephemeral_volumes_on_other_classes_are_refused(
    tenant: str, owner: Any
) -> None:
    apps, core = client.AppsV1Api(owner), client.CoreV1Api(owner)

    def stateful(class_name: str) -> str | None:
        return refusal(
            lambda: apps.create_namespaced_stateful_set(
                tenant, stateful_set(class_name), dry_run="All"
            )
        )

    def pod(class_name: str) -> str | None:
        return refusal(
            lambda: core.create_namespaced_pod(tenant, ephemeral_pod(class_name), dry_run="All")
        )

    refused = wait_for(
        lambda: (r := stateful(OUTSIDE)) and STATEFULSETS in r and r,
        "the storage policy to refuse a StatefulSet",
    )
    assert f"spec.volumeClaimTemplates data: storageClassName {OUTSIDE} is not" in refused
    assert ALLOWS in refused
    assert stateful(LATE) is None

    refused = wait_for(
        lambda: (r := pod(OUTSIDE)) and EPHEMERAL_CLASS in r and r,
        "the storage policy to refuse an ephemeral volume",
    )
    assert (
        f"spec.volumes[0] scratch: ephemeral.volumeClaimTemplate.spec.storageClassName {OUTSIDE}"
        in refused
    )
    allowed = pod(LATE)
    assert allowed is None or EPHEMERAL_CLASS not in allowed, allowed
