"""Two replicas on one Lease, as the Helm chart runs them: only the holder acts (Events,
evictions, reconciles), and the standby takes over after a crash (SIGKILL) and after a
shutdown (SIGTERM), when the leaving replica gives the Lease back.

Both run with native admission only: on loopback the two replicas cannot sit behind
the one webhook Service the chart gives them.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain.api import conditions as c
from tests.support.cluster import Cluster, settle_deletions, wait_for
from tests.support.operator import Operator
from tests.support.placement import (
    NodeLabel,
    deployment,
    events_of,
    native_placement_holds,
    nodes_of,
)
from tests.support.tenancy import Tenancy

LEASE_NAMESPACE, LEASE = "souverain-ha", "souverain"
OURS = {
    c.NAMESPACE_CREATED,
    c.RECONCILED,
    c.POD_PINNED,
    c.POD_ON_UNQUALIFIED_NODE,
    c.POD_EVICTED,
}
"""Reasons of the Events souverain itself posts (kopf's own Events name no instance)."""


class Replicas:
    """Two ``souverain run`` sharing a Lease; ``active`` and ``standby`` by its holder."""

    def __init__(self, cluster: Cluster, folder: Path, api: Any) -> None:
        self.coordination = client.CoordinationV1Api(api)
        self.all = [
            Operator(
                cluster,
                folder / name,
                lease=f"{LEASE_NAMESPACE}/{LEASE}",
                identity=name,
                extra_env={"SOUVERAIN_ADMISSION_LAYERS": "native", "SOUVERAIN_LEASE_SECONDS": "4"},
            )
            for name in ("replica-a", "replica-b")
        ]
        for replica in self.all:
            replica.log_dir.mkdir()

    def holder(self) -> str | None:
        try:
            lease = self.coordination.read_namespaced_lease(LEASE, LEASE_NAMESPACE)
        except ApiException as error:
            if error.status == 404:
                return None
            raise
        found: str | None = lease.spec.holder_identity
        return found

    def wait_held(self) -> Operator:
        name = wait_for(self.holder, "a replica to hold the Lease")
        return next(r for r in self.all if r.identity == name)

    @property
    def active(self) -> Operator:
        return self.wait_held()

    @property
    def standby(self) -> Operator:
        active = self.active
        return next(r for r in self.all if r is not active)


@pytest.fixture(scope="module")
def replicas(
    cluster: Cluster, souverain_crds: None, api: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Replicas]:
    core = client.CoreV1Api(api)
    try:
        core.create_namespace({"metadata": {"name": LEASE_NAMESPACE}})
    except ApiException as error:
        if error.status != 409:
            raise
    made = Replicas(cluster, tmp_path_factory.mktemp("replicas"), api)
    first, second = made.all
    first.start()
    wait_for(lambda: made.holder() == first.identity, "the first replica to hold the Lease")
    second.start()
    try:
        yield made
    finally:
        settle_deletions(cluster)
        for replica in made.all:
            replica.stop()


class Tenants(Tenancy):
    """A profile and a SovereignNamespace of the same name per tenant; deleted after."""

    def __init__(self, api: Any) -> None:
        super().__init__(api)
        self.names: list[str] = []

    def create(self, **profile: Any) -> str:
        name = f"ha-{uuid.uuid4().hex[:6]}"
        self.names.append(name)
        self.profile(name, **profile)
        self.namespace(name, name)
        return name


@pytest.fixture
def tenancy(api: Any) -> Iterator[Tenants]:
    made = Tenants(api)
    yield made
    for name in made.names:
        made.delete("sovereignnamespaces", name)
        made.delete("sovereigntyprofiles", name)


def souverain_events(core: Any) -> list[Any]:
    return [e for e in core.list_event_for_all_namespaces().items if e.reason in OURS]


def test_only_the_active_replica_posts_events_and_evicts(
    replicas: Replicas, tenancy: Tenants, api: Any, core: Any
) -> None:
    active, standby = replicas.active, replicas.standby
    name = tenancy.create(enforcement={"mode": "Enforce", "evictNonCompliant": True})
    tenancy.wait(name)
    native_placement_holds(core, name)
    client.AppsV1Api(api).create_namespaced_deployment(name, deployment("web", 2))
    placed = nodes_of(core, name, "web", 2)
    wait_for(lambda: len(events_of(core, name, c.POD_PINNED)) >= 2, "the pods' PodPinned Events")
    labels = NodeLabel(core)
    try:
        labels.remove(placed[0])
        wait_for(lambda: events_of(core, name, c.POD_EVICTED), "a PodEvicted Event")
    finally:
        labels.restore()

    posted = souverain_events(core)
    mine = [e for e in posted if e.involved_object.name == name or e.metadata.namespace == name]
    assert {e.reason for e in mine} >= {c.NAMESPACE_CREATED, c.POD_PINNED, c.POD_EVICTED}
    assert {e.reporting_instance for e in mine} == {active.identity}
    assert not [e for e in posted if e.reporting_instance == standby.identity]
    assert "Evicted pod" in active.log()
    assert "Evicted pod" not in standby.log()
    assert replicas.holder() == active.identity


def test_after_a_crash_the_standby_takes_over(replicas: Replicas, tenancy: Tenants) -> None:
    active, standby = replicas.active, replicas.standby
    active.kill()
    name = tenancy.create()
    tenancy.wait(name)  # only an active replica makes it Ready
    assert replicas.holder() == standby.identity
    active.start()  # back, as the standby
    assert replicas.holder() == standby.identity


def test_a_replica_shutting_down_hands_the_lease_over(replicas: Replicas, tenancy: Tenants) -> None:
    active, standby = replicas.active, replicas.standby
    active.stop()
    assert "Released Lease" in active.log()
    wait_for(lambda: replicas.holder() == standby.identity, "the standby to take the Lease")
    name = tenancy.create()
    tenancy.wait(name)
    active.start()
