"""The placement state and its settle loop, fed by informers replaying recorded lists
and watch events: which pods are announced as pinned (once), which are reported and
evicted, what a re-list forgets, and what a standby does (nothing)."""

from __future__ import annotations

import threading
from typing import Any

from kubernetes.client.exceptions import ApiException

from souverain.metrics import Metrics
from souverain.placement.settle import Settler
from souverain.placement.state import PlacementState
from souverain.runtime.events import EventPoster
from souverain.runtime.informer import Informer
from souverain.runtime.snapshot import Snapshot
from souverain.settings import WebhookOptions
from tests.support.informer import Recorded

SOVEREIGN = "node-restriction.kubernetes.io/french-sovereign"


def meta(name: str, version: str, namespace: str | None = None, **extra: Any) -> dict[str, Any]:
    found = {"name": name, "resourceVersion": version, "uid": f"uid-{name}", **extra}
    if namespace:
        found["namespace"] = namespace
    return found


PROFILE = {
    "kind": "SovereigntyProfile",
    "metadata": meta("fr", "1"),
    "spec": {
        "nodeRequirements": [{"key": SOVEREIGN, "operator": "In", "values": ["true"]}],
        "enforcement": {"mode": "Enforce", "evictNonCompliant": True},
    },
}
NAMESPACE = {
    "kind": "Namespace",
    "metadata": meta("tenant", "2", labels={"souverain.io/profile": "fr"}),
}
NODES = [
    {"kind": "Node", "metadata": meta("fr-1", "3", labels={SOVEREIGN: "true"})},
    {"kind": "Node", "metadata": meta("us-1", "4", labels={})},
]


def pod(name: str, node: str, version: str) -> dict[str, Any]:
    return {
        "kind": "Pod",
        "metadata": meta(name, version, "tenant"),
        "spec": {"nodeName": node},
        "status": {"phase": "Running"},
    }


class Api:
    """Records the Events created and the evictions asked for."""

    def __init__(self) -> None:
        self.events: list[tuple[str, str]] = []
        self.evicted: list[str] = []

    def create(self, obj: dict[str, Any]) -> dict[str, Any]:
        self.events.append((obj["reason"], obj["involvedObject"]["name"]))
        return obj

    def evict(self, name: str, namespace: str) -> int:
        self.evicted.append(name)
        return 201


def informer(kind: str, items: list[dict[str, Any]], version: str = "10") -> Informer:
    return Informer(Recorded([(items, version)], []), kind)


class Placement:
    """A placement state and settle loop over recorded informers."""

    def __init__(self, pods: list[dict[str, Any]], *, active: bool = True) -> None:
        self.pods = Recorded([(pods, "10")], [])
        self.snapshot = Snapshot(
            profiles=informer("SovereigntyProfile", [PROFILE]),
            sovereign_namespaces=informer("SovereignNamespace", []),
            resident_volumes=informer("ResidentVolume", []),
            namespaces=informer("Namespace", [NAMESPACE]),
            nodes=informer("Node", NODES),
            pods=Informer(self.pods, "Pod"),
            network_policies=informer("NetworkPolicy", []),
            role_bindings=informer("RoleBinding", []),
            resident_claims=informer("PersistentVolumeClaim", []),
            volumes=informer("PersistentVolume", []),
            mutating_webhooks=informer("MutatingWebhookConfiguration", []),
            validating_webhooks=informer("ValidatingWebhookConfiguration", []),
            policy_bindings=informer("ValidatingAdmissionPolicyBinding", []),
        )
        self.active = threading.Event()
        if active:
            self.active.set()
        self.state = PlacementState(
            self.snapshot, WebhookOptions(), mutating_policies=True, active=self.active
        )
        self.state.subscribe()
        self.api = Api()
        self.changed: list[str] = []
        self.settler = Settler(
            self.state,
            self.api,  # type: ignore[arg-type]
            EventPoster(self.api, self.active, "replica-a"),  # type: ignore[arg-type]
            self.changed.append,
            Metrics(),
        )
        for each in self.snapshot:
            each.relist()
        self.settler.activate()

    def settle(self) -> None:
        for namespace in sorted(self.state.dirty.take(0)):
            self.settler.settle(namespace)
        self.settler.flush()

    def relist_pods(self, pods: list[dict[str, Any]], version: str) -> None:
        """The pod watch ended; the next list says ``pods``."""
        self.pods.lists.append((pods, version))
        self.snapshot.pods.relist()


def test_pods_listed_at_start_are_not_announced_and_new_pods_are_once() -> None:
    placement = Placement([pod("old", "fr-1", "20")])
    placement.settle()
    assert placement.api.events == []
    assert placement.changed == ["tenant"]
    placement.snapshot.pods.seen("ADDED", {**pod("new", "", "21"), "spec": {}})
    placement.snapshot.pods.seen("MODIFIED", pod("new", "fr-1", "22"))
    placement.settle()
    assert placement.api.events == [("PodPinned", "new")]
    placement.snapshot.pods.seen("MODIFIED", pod("new", "fr-1", "23"))
    placement.settle()
    assert placement.api.events == [("PodPinned", "new")]


def test_a_relist_after_the_watch_expired_announces_no_pod_a_second_time() -> None:
    placement = Placement([])
    placement.snapshot.pods.seen("ADDED", pod("web", "fr-1", "21"))
    placement.settle()
    assert placement.api.events == [("PodPinned", "web")]
    placement.relist_pods([pod("web", "fr-1", "21")], "30")
    placement.settle()
    assert placement.api.events == [("PodPinned", "web")]


def test_a_pod_deleted_while_the_watch_was_down_is_forgotten() -> None:
    placement = Placement([pod("web", "fr-1", "20"), pod("db", "fr-1", "21")])
    placement.settle()
    assert set(placement.state.scheduled("tenant")) == {"web", "db"}
    placement.relist_pods([pod("db", "fr-1", "21")], "30")
    placement.settle()
    assert set(placement.state.scheduled("tenant")) == {"db"}
    report = placement.state.report("tenant", 1)
    assert report is not None
    assert (report.compliant_pods, report.non_compliant_pods) == (1, 0)


def test_a_pod_on_a_node_that_does_not_qualify_is_reported_once_and_evicted() -> None:
    placement = Placement([pod("web", "us-1", "20")])
    placement.settle()
    assert placement.api.events == [("PodOnUnqualifiedNode", "web"), ("PodEvicted", "web")]
    assert placement.api.evicted == ["web"]
    placement.state.mark("tenant")
    placement.settle()  # within the retry delay: neither reported nor evicted again
    assert placement.api.evicted == ["web"]
    assert len(placement.api.events) == 2


def test_a_standby_records_no_pod_to_announce_and_posts_nothing() -> None:
    placement = Placement([pod("web", "us-1", "20")], active=False)
    placement.snapshot.pods.seen("ADDED", pod("new", "fr-1", "21"))
    assert placement.state.fresh == {}
    placement.settle()
    assert placement.api.events == []
    assert placement.api.evicted == []


def test_a_node_losing_its_label_marks_the_namespaces_with_pods_on_it() -> None:
    placement = Placement([pod("web", "fr-1", "20")])
    placement.settle()
    placement.snapshot.nodes.seen("MODIFIED", {"kind": "Node", "metadata": meta("fr-1", "40")})
    assert placement.state.dirty.take(0) == {"tenant"}


def sovereign_namespace(version: str, compliant: int, non_compliant: int) -> dict[str, Any]:
    return {
        "kind": "SovereignNamespace",
        "metadata": meta("tenant", version),
        "spec": {"profileName": "fr"},
        "status": {"compliantPods": compliant, "nonCompliantPods": non_compliant},
    }


def test_counts_written_from_an_older_view_are_settled_again() -> None:
    placement = Placement([pod("web", "fr-1", "20")])
    placement.settle()
    assert placement.changed == ["tenant"]
    placement.snapshot.sovereign_namespaces.seen("ADDED", sovereign_namespace("50", 1, 0))
    placement.settle()
    assert placement.changed == ["tenant"], "counts that hold are not written again"
    placement.snapshot.sovereign_namespaces.seen("MODIFIED", sovereign_namespace("51", 0, 1))
    placement.settle()
    assert placement.changed == ["tenant", "tenant"]


def test_a_status_write_that_fails_is_tried_again() -> None:
    placement = Placement([pod("web", "fr-1", "20")])
    failures = [ApiException(status=503, reason="Service Unavailable")]

    def write(namespace: str) -> None:
        if failures:
            raise failures.pop()
        placement.changed.append(namespace)

    placement.settler.on_change = write
    placement.settle()
    assert placement.changed == []
    assert placement.settler.due() == set(), "not before the sweep's delay"
    placement.settler._rewrite["tenant"] = 0.0  # the delay is over
    assert placement.settler.due() == {"tenant"}
    placement.settler.settle("tenant")
    placement.settler.flush()
    assert placement.changed == ["tenant"]


def test_a_namespace_just_labelled_is_reported_on_before_the_informer_sees_it() -> None:
    placement = Placement([])
    assert placement.state.report("new", 1) is None
    report = placement.state.report("new", 1, bound="fr")
    assert report is not None
    assert (report.compliant_pods, report.non_compliant_pods) == (0, 0)
    assert {condition.type for condition in report.conditions} == {
        "PlacementEnforced",
        "Compliant",
    }
