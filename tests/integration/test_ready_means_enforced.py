"""Ready means enforced: from the moment a SovereignNamespace says Ready, every escape its
owner tries is refused, and from the moment a profile says a generation is enforced, what
that generation no longer allows is refused.

An owner starts creating escapes (for real, not as dry runs) before the operator has
even seen her namespace, and keeps on past Ready: every attempt begun after Ready was
seen must have been refused. Then the catalogue of escape routes is tried once, at once.
Rounds use a fresh profile and a fresh namespace each, with the operator's webhook layer
on and off. No step here waits for a policy to be in force: Ready is what is waited for.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from kubernetes import client, watch
from kubernetes.client.exceptions import ApiException

from tests.support.cluster import Cluster, settle_deletions, wait_for
from tests.support.escape_routes import (
    ALLOWED_CLASS,
    ALLOWED_NFS,
    PROFILE_CIDRS,
    ROUTES,
    Route,
    Tenant,
    pod,
)
from tests.support.operator import Operator
from tests.support.tenancy import GROUP, VERSION, Tenancy

LAYERS = ("native,webhook", "native")
ROUNDS = 3
PAST_READY_SECONDS = 3.0
"""How long the owner keeps trying once Ready is seen."""
UNREACHABLE_AT_READY = {
    "delete-resident-volume-claim",
    "unlabel-resident-volume-claim",
    "unbind-namespace-from-profile",
    "rebind-namespace-to-other-profile",
}
"""Routes that need what an owner does not have when her namespace becomes Ready: a
ResidentVolume's claim (none exists yet), rights on her Namespace object (the admin role
does not give them). ``test_escape_routes.py`` tries them."""


@dataclass(frozen=True)
class Attempt:
    route: str
    started: float
    accepted: bool
    answer: str


def _escapes(owner: Any) -> dict[str, Callable[[str, str], Any]]:
    """Escapes an owner sends again and again, each a real create."""
    core, networking = client.CoreV1Api(owner), client.NetworkingV1Api(owner)

    def volume_pod(source: dict[str, Any]) -> Callable[[str, str], Any]:
        return lambda ns, name: core.create_namespaced_pod(
            ns, pod(name, volumes=[{"name": "data", **source}])
        )

    def wide_policy(ns: str, name: str) -> Any:
        body = {
            "metadata": {"name": name},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
            },
        }
        return networking.create_namespaced_network_policy(ns, body)

    return {
        "ebs-volume": volume_pod({"awsElasticBlockStore": {"volumeID": "vol-abroad"}}),
        "nfs-abroad": volume_pod({"nfs": {"server": "nfs.us.example", "path": "/"}}),
        "node-abroad": lambda ns, name: core.create_namespaced_pod(
            ns, pod(name, nodeName="std-us-1")
        ),
        "wide-egress": wide_policy,
    }


class Owner:
    """The owner's loop of escapes, on a thread, from before her namespace exists."""

    def __init__(self, owner: Any, namespace: str) -> None:
        self.namespace = namespace
        self.escapes = _escapes(owner)
        self.attempts: list[Attempt] = []
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)

    def __enter__(self) -> Owner:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)

    def _loop(self) -> None:
        while not self.stop.is_set():
            for route, create in self.escapes.items():
                started = time.monotonic()
                try:
                    create(self.namespace, f"{route}-{uuid.uuid4().hex[:6]}")
                except ApiException as error:
                    answer = f"{error.status}: {error.body}"[:300]
                    self.attempts.append(Attempt(route, started, False, answer))
                else:
                    self.attempts.append(Attempt(route, started, True, "created"))

    def accepted_after(self, moment: float) -> list[Attempt]:
        return [a for a in self.attempts if a.started >= moment and a.accepted]


def ready_seen(objects: Any, name: str, timeout: float = 60.0) -> float:
    """Polls the SovereignNamespace until its Ready condition is True; returns when that
    was first seen (no later than a poll after the status was written)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        body = objects.get_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces", name)
        for condition in (body.get("status") or {}).get("conditions", []):
            if condition["type"] == "Ready" and condition["status"] == "True":
                return time.monotonic()
        time.sleep(0.02)
    raise AssertionError(f"{name} was not Ready within {timeout} s: {body.get('status')}")


@pytest.fixture(scope="module", params=LAYERS)
def layered(
    request: pytest.FixtureRequest,
    cluster: Cluster,
    souverain_crds: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[Operator]:
    """The operator with the webhook layer on (the default) and off."""
    running = Operator(
        cluster,
        tmp_path_factory.mktemp("operator"),
        extra_env={"SOUVERAIN_ADMISSION_LAYERS": request.param},
    )
    running.start()
    try:
        yield running
    finally:
        settle_deletions(cluster)
        running.stop()


@pytest.fixture(scope="module")
def storage_class(api: Any) -> Iterator[str]:
    storage = client.StorageV1Api(api)
    storage.create_storage_class(
        {
            "metadata": {"name": ALLOWED_CLASS},
            "provisioner": "kubernetes.io/no-provisioner",
            "volumeBindingMode": "WaitForFirstConsumer",
        }
    )
    yield ALLOWED_CLASS
    storage.delete_storage_class(ALLOWED_CLASS)


def _profile(tenancy: Tenancy, name: str) -> None:
    tenancy.profile(
        name,
        egress={"allowDNS": True, "cidrs": PROFILE_CIDRS},
        storage={
            "allowedClasses": [ALLOWED_CLASS],
            "allowedVolumeSources": {"nfsServers": [ALLOWED_NFS]},
        },
    )


@pytest.mark.parametrize("round_", range(ROUNDS))
def test_no_escape_is_accepted_once_ready(
    layered: Operator, storage_class: str, cluster: Cluster, api: Any, round_: int
) -> None:
    tenancy = Tenancy(api)
    objects = client.CustomObjectsApi(api)
    name = f"window-{uuid.uuid4().hex[:6]}"
    owner_name = f"alice-{name}"
    with cluster.api(impersonate=owner_name) as owner:
        with Owner(owner, name) as trying:
            _profile(tenancy, name)
            tenancy.namespace(name, name, owners=[{"kind": "User", "name": owner_name}])
            ready = ready_seen(objects, name)
            if round_ == 0:
                core = client.CoreV1Api(api)
                nodes = {
                    n.metadata.name: dict(n.metadata.labels or {}) for n in core.list_node().items
                }
                tenant = Tenant(name, name, owner, api, nodes)
                failed = _catalogue(tenant)
            else:
                failed = {}
            time.sleep(max(0.0, ready + PAST_READY_SECONDS - time.monotonic()))
        tenancy.delete("sovereignnamespaces", name)
        tenancy.delete("sovereigntyprofiles", name)
    after = [a for a in trying.attempts if a.started >= ready]
    assert after, "the owner made no attempt after Ready"
    accepted = trying.accepted_after(ready)
    assert accepted == [], (
        f"{len(accepted)} of {len(after)} attempts begun after Ready were accepted, the"
        f" first {accepted[0].started - ready if accepted else 0:.2f} s after it: {accepted[:5]}"
    )
    assert failed == {}, f"catalogue routes not refused at Ready: {failed}"


def _catalogue(tenant: Tenant) -> dict[str, str]:
    """Tries every route of the catalogue the owner can reach; the failures by route."""
    failed: dict[str, str] = {}
    routes: list[Route] = [r for r in ROUTES if r.name not in UNREACHABLE_AT_READY]
    for route in routes:
        try:
            route.attempt(tenant)
        except (AssertionError, ApiException, pytest.fail.Exception) as error:
            failed[route.id] = str(error)[:300]
    return failed


def test_a_narrower_profile_refuses_the_old_allowance_once_its_generation_is_enforced(
    layered: Operator, api: Any, cluster: Cluster
) -> None:
    tenancy = Tenancy(api)
    objects = client.CustomObjectsApi(api)
    name = f"narrow-{uuid.uuid4().hex[:6]}"
    owner_name = f"alice-{name}"
    wide = [{"cidr": "10.0.0.0/8"}, {"cidr": "192.0.2.0/24"}]
    tenancy.profile(name, egress={"cidrs": wide})
    tenancy.namespace(name, name, owners=[{"kind": "User", "name": owner_name}])
    ready_seen(objects, name)
    old_allowance = {
        "metadata": {"name": "old-allowance"},
        "spec": {
            "podSelector": {},
            "policyTypes": ["Egress"],
            "egress": [{"to": [{"ipBlock": {"cidr": "192.0.2.0/24"}}]}],
        },
    }
    attempts: list[tuple[float, bool]] = []
    other_errors: list[str] = []
    stop = threading.Event()
    with cluster.api(impersonate=owner_name) as owner:
        networking = client.NetworkingV1Api(owner)
        # Allowed by generation 1: the owner's grant and the allowance are both in force.
        networking.create_namespaced_network_policy(name, old_allowance, dry_run="All")

        def loop() -> None:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    networking.create_namespaced_network_policy(name, old_allowance, dry_run="All")
                except ApiException as error:
                    if error.status != 403:
                        other_errors.append(f"{error.status}: {error.body}")
                    attempts.append((started, False))
                else:
                    attempts.append((started, True))

        thread = threading.Thread(target=loop, daemon=True)
        thread.start()
        try:
            patch = {"spec": {"egress": {"cidrs": [{"cidr": "10.0.0.0/8"}]}}}
            changed = objects.patch_cluster_custom_object(
                GROUP, VERSION, "sovereigntyprofiles", name, patch
            )
            generation = changed["metadata"]["generation"]

            def enforced() -> float | None:
                body = objects.get_cluster_custom_object(
                    GROUP, VERSION, "sovereigntyprofiles", name
                )
                seen = (body.get("status") or {}).get("enforcedGeneration")
                return time.monotonic() if seen == generation else None

            moment = wait_for(
                enforced, f"generation {generation} of {name} enforced", interval=0.02
            )
            time.sleep(PAST_READY_SECONDS)
        finally:
            stop.set()
            thread.join(timeout=30)
    namespace = objects.get_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces", name)
    tenancy.delete("sovereignnamespaces", name)
    tenancy.delete("sovereigntyprofiles", name)
    after = [accepted for started, accepted in attempts if started >= moment]
    assert other_errors == []
    assert after, "no attempt after the new generation was enforced"
    assert not any(after), f"{sum(after)} of {len(after)} attempts accepted after enforcement"
    assert (namespace.get("status") or {}).get("enforcedProfileGeneration", 0) >= generation


def test_a_deleted_binding_is_reported_in_force_only_once_it_refuses_again(
    layered: Operator, api: Any, cluster: Cluster
) -> None:
    """An administrator deletes the egress floor's binding of a Ready namespace's profile:
    the namespace says it is not enforced, the operator puts the binding back, and from
    the moment the namespace says it is enforced again, the owner's wide NetworkPolicy is
    refused."""
    tenancy = Tenancy(api)
    objects = client.CustomObjectsApi(api)
    name = f"rebind-{uuid.uuid4().hex[:6]}"
    owner_name = f"alice-{name}"
    tenancy.profile(name, egress={"cidrs": [{"cidr": "10.0.0.0/8"}]})
    tenancy.namespace(name, name, owners=[{"kind": "User", "name": owner_name}])
    ready_seen(objects, name)
    start = objects.get_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces", name)
    seen: list[tuple[float, str]] = []
    story: list[str] = []
    stop = threading.Event()

    def follow() -> None:
        stream = watch.Watch()
        for event in stream.stream(
            objects.list_cluster_custom_object,
            GROUP,
            VERSION,
            "sovereignnamespaces",
            field_selector=f"metadata.name={name}",
            resource_version=start["metadata"]["resourceVersion"],
            timeout_seconds=60,
        ):
            conditions = (event["object"].get("status") or {}).get("conditions", [])
            for condition in conditions:
                if condition["type"] == "Enforced":
                    seen.append((time.monotonic(), condition["status"]))
                    status, message = condition["status"], condition["message"][:80]
                    story.append(f"{time.monotonic():.3f} {status} {message}")
            if stop.is_set():
                stream.stop()

    follower = threading.Thread(target=follow, daemon=True)
    follower.start()
    wide = {
        "metadata": {"name": "wide"},
        "spec": {"podSelector": {}, "policyTypes": ["Egress"], "egress": [{}]},
    }
    attempts: list[tuple[float, bool]] = []
    with cluster.api(impersonate=owner_name) as owner:
        networking = client.NetworkingV1Api(owner)

        def loop() -> None:
            while not stop.is_set():
                started = time.monotonic()
                try:
                    networking.create_namespaced_network_policy(name, wide, dry_run="All")
                except ApiException:
                    attempts.append((started, False))
                else:
                    attempts.append((started, True))

        trying = threading.Thread(target=loop, daemon=True)
        trying.start()
        admission = client.AdmissionregistrationV1Api(api)
        binding = f"souverain-egress-floor-{name}"
        admission.delete_validating_admission_policy_binding(binding)

        def enforced_again() -> float | None:
            falls = [t for t, status in seen if status == "False"]
            rises = [t for t, status in seen if status == "True" and falls and t > falls[0]]
            return rises[0] if rises else None

        moment = wait_for(enforced_again, f"{name} to be reported enforced again", interval=0.02)
        time.sleep(PAST_READY_SECONDS)
        stop.set()
        trying.join(timeout=30)
    follower.join(timeout=70)
    admission.read_validating_admission_policy_binding(binding)
    tenancy.delete("sovereignnamespaces", name)
    tenancy.delete("sovereigntyprofiles", name)
    after = [accepted for started, accepted in attempts if started >= moment]
    assert after, "no attempt after the namespace was reported enforced again"
    accepted = [f"{started:.3f}" for started, ok in attempts if ok]
    assert not any(after), (
        f"{sum(after)} of {len(after)} accepted once enforced again at {moment:.3f}:"
        f" accepted at {accepted[:3]}...{accepted[-3:]}; statuses {story}"
    )
