"""Snapshots as a property: for VolumeSnapshots and restoring claims drawn at random, the
API server's decision on a namespace owner's create is the one an evaluator written here
from the rules (not from the policies' CEL) gives, with the operator up and stopped.

Each drawn object is first created as the cluster's administrator in a dry run (which
every souverain policy lets through): the API server's answer is the object as it would
store it (it drops a claim's dataSource of an unknown kind, and dataSourceRef.namespace
without the CrossNamespaceVolumeDataSource gate), or a refusal of an invalid object,
which is not drawn again. The evaluator judges the stored form; the owner's dry run must
agree. The draws are seeded."""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain.admission.policy import binding_name
from souverain.admission.snapshots import RESTORES, SNAPSHOTS
from tests.support.cluster import Cluster, wait_for
from tests.support.operator import Operator
from tests.support.states import OPERATOR_STATES, namespace_gone, operator_in, refused_by
from tests.support.tenancy import Tenancy

RUN = uuid.uuid4().hex[:6]
PROFILE = NAMESPACE = f"snapshot-property-{RUN}"
OTHER = f"snapshot-property-other-{RUN}"
OWNER = f"sam-{RUN}"
STORAGE_CLASS = f"property-ssd-{RUN}"
ALLOWED = f"property-fr-{RUN}"
GROUP, VERSION = "snapshot.storage.k8s.io", "v1"
DRAWS = 80
KINDS = (
    "VolumeSnapshot",
    "VolumeSnapshot",
    "volumesnapshot",
    "VolumeSnapshotContent",
    "PersistentVolumeClaim",
    "Widget",
)


@pytest.fixture(scope="module")
def owner(cluster: Cluster, api: Any, operator: Operator) -> Iterator[Any]:
    tenancy = Tenancy(api)
    tenancy.profile(
        PROFILE, storage={"allowedClasses": [STORAGE_CLASS], "allowedSnapshotClasses": [ALLOWED]}
    )
    tenancy.namespace(NAMESPACE, PROFILE, owners=[{"kind": "User", "name": OWNER}])
    tenancy.wait(NAMESPACE)
    tenancy.grant(
        f"snapshot-property-{RUN}",
        NAMESPACE,
        OWNER,
        [{"apiGroups": [GROUP], "resources": ["volumesnapshots"], "verbs": ["create"]}],
    )
    with cluster.api(impersonate=OWNER) as sam:
        # Both policies the draws try refuse as themselves from Ready on (another
        # admission refusal would make the draws' acceptances look like the policies').
        assert refused_by(
            lambda: _create(sam, "volumesnapshots", _snapshot(None), True),
            binding_name(SNAPSHOTS, PROFILE),
        ), "the snapshot policy's binding did not refuse a snapshot without a class"
        assert refused_by(
            lambda: _create(sam, "persistentvolumeclaims", _restoring("volumesnapshot"), True),
            binding_name(RESTORES, PROFILE),
        ), "the restore policy's binding did not refuse a claim from a 'volumesnapshot'"
        yield sam
    tenancy.delete("sovereignnamespaces", NAMESPACE)
    core = client.CoreV1Api(api)
    wait_for(lambda: namespace_gone(core, NAMESPACE), "the namespace to go", timeout=120)
    tenancy.delete("sovereigntyprofiles", PROFILE)
    client.RbacAuthorizationV1Api(api).delete_cluster_role(f"snapshot-property-{RUN}")


@pytest.fixture(scope="module", params=OPERATOR_STATES)
def state(request: pytest.FixtureRequest, owner: Any, operator: Operator) -> Iterator[str]:
    yield from operator_in(request.param, operator)


def _snapshot(snapshot_class: str | None, **source: str) -> dict[str, Any]:
    spec: dict[str, Any] = {"source": source or {"persistentVolumeClaimName": "data"}}
    if snapshot_class is not None:
        spec["volumeSnapshotClassName"] = snapshot_class
    return {"apiVersion": f"{GROUP}/{VERSION}", "kind": "VolumeSnapshot", "spec": spec}


def _restoring(kind: str) -> dict[str, Any]:
    """A claim restoring from ``kind`` of the snapshot API group."""
    return {
        "apiVersion": "v1",
        "kind": "PersistentVolumeClaim",
        "spec": {
            "accessModes": ["ReadWriteOnce"],
            "storageClassName": STORAGE_CLASS,
            "resources": {"requests": {"storage": "1Gi"}},
            "dataSourceRef": {"apiGroup": GROUP, "kind": kind, "name": "source"},
        },
    }


def _create(api: Any, plural: str, body: dict[str, Any], dry_run: bool) -> dict[str, Any]:
    """Creates ``body`` (a dry run when asked) and returns the object as the API server
    answers it."""
    named = {**body, "metadata": {"name": f"p-{uuid.uuid4().hex[:8]}"}}
    if plural == "volumesnapshots":
        found = client.CustomObjectsApi(api).create_namespaced_custom_object(
            GROUP, VERSION, NAMESPACE, plural, named, dry_run="All" if dry_run else None
        )
        return dict(found)
    created = client.CoreV1Api(api).create_namespaced_persistent_volume_claim(
        NAMESPACE, named, dry_run="All" if dry_run else None
    )
    return dict(api.sanitize_for_serialization(created))


def _answer(api: Any, plural: str, body: dict[str, Any]) -> dict[str, Any] | int:
    """The object a dry-run create would store, or the status of its refusal."""
    try:
        return _create(api, plural, body, dry_run=True)
    except ApiException as error:
        return int(error.status)


def _draw_snapshot(rng: random.Random) -> dict[str, Any]:
    snapshot_class = rng.choice([ALLOWED, ALLOWED, f"property-us-{RUN}", None, ALLOWED + "-2"])
    source = rng.choice(
        [
            {"persistentVolumeClaimName": "data"},
            {"persistentVolumeClaimName": "data"},
            {"volumeSnapshotContentName": "pre-provisioned"},
        ]
    )
    return _snapshot(snapshot_class, **source)


def _reference(rng: random.Random, with_namespace: bool) -> dict[str, Any]:
    reference: dict[str, Any] = {
        "kind": rng.choice(KINDS),
        "name": "source",
    }
    group = rng.choice([GROUP, GROUP, None, f"{GROUP}.example", "example.com", "snapshot.storage"])
    if group is not None:
        reference["apiGroup"] = group
    if with_namespace:
        namespace = rng.choice([None, NAMESPACE, OTHER])
        if namespace is not None:
            reference["namespace"] = namespace
    return reference


def _draw_claim(rng: random.Random) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "storageClassName": STORAGE_CLASS,
        "resources": {"requests": {"storage": "1Gi"}},
    }
    fields = rng.choice([["dataSource"], ["dataSourceRef"], ["dataSource", "dataSourceRef"]])
    reference = _reference(rng, "dataSourceRef" in fields)
    for field in fields:
        spec[field] = dict(reference)
        if field == "dataSource":
            spec[field].pop("namespace", None)
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim", "spec": spec}


def snapshot_refused(stored: dict[str, Any]) -> bool:
    """The rule: a snapshot names one of the profile's classes and no pre-provisioned
    content."""
    spec = stored.get("spec") or {}
    return spec.get("volumeSnapshotClassName") != ALLOWED or bool(
        (spec.get("source") or {}).get("volumeSnapshotContentName")
    )


def claim_refused(stored: dict[str, Any]) -> bool:
    """The rule: a claim restores from a VolumeSnapshot (named exactly so, in its API
    group) of its own namespace, and names nothing else that looks like a snapshot."""
    spec = stored.get("spec") or {}
    for field in ("dataSource", "dataSourceRef"):
        reference = spec.get(field)
        if not reference:
            continue
        group, kind = reference.get("apiGroup") or "", reference.get("kind") or ""
        exact = (group, kind) == (GROUP, "VolumeSnapshot")
        if not exact and (
            group.lower().startswith(GROUP) or kind.lower().startswith("volumesnapshot")
        ):
            return True
        if exact and reference.get("namespace") not in (None, "", NAMESPACE):
            return True
    return False


CASES = {
    "snapshots": ("volumesnapshots", _draw_snapshot, snapshot_refused),
    "claims": ("persistentvolumeclaims", _draw_claim, claim_refused),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_api_server_decides_as_the_rules(api: Any, owner: Any, state: str, case: str) -> None:
    plural, draw, refused_by_rule = CASES[case]
    rng = random.Random(f"{case}-snapshots")
    compared = refusals = 0
    for _ in range(DRAWS):
        body = draw(rng)
        stored = _answer(api, plural, body)
        if isinstance(stored, int):
            assert stored == 422, stored
            continue  # invalid whoever writes it
        expected = not refused_by_rule(stored)
        answer = _answer(owner, plural, body)
        assert answer == 403 or isinstance(answer, dict), answer
        accepted = isinstance(answer, dict)
        assert accepted == expected, (
            f"the API server {'accepted' if accepted else 'refused'} {body['spec']} "
            f"(stored as {stored['spec']}); the rules say {'accept' if expected else 'refuse'}"
        )
        compared += 1
        refusals += not accepted
    assert compared >= DRAWS // 2, f"only {compared} of {DRAWS} draws were valid objects"
    assert 0 < refusals < compared, f"{refusals} of {compared} refused: the draws miss a side"
