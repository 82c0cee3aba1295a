"""The informer, driven by recorded lists and watch streams: what it keeps, what it
announces, and what happens when a watch ends and it lists again."""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import Any

import pytest

from souverain.kubeapi import ApiUnavailableError, WatchSilentError
from souverain.runtime.informer import Change, Informer
from tests.support.informer import Recorded


def pod(name: str, version: str, node: str = "n1", namespace: str = "ns") -> dict[str, Any]:
    return {
        "metadata": {"name": name, "namespace": namespace, "resourceVersion": version},
        "spec": {"nodeName": node},
    }


def changes_of(informer: Informer) -> list[tuple[str, str]]:
    seen: list[tuple[str, str]] = []
    informer.subscribe(lambda change: seen.append((change.type, change.obj["metadata"]["name"])))
    return seen


def test_first_list_is_announced_as_added_and_sets_synced() -> None:
    informer = Informer(Recorded([([pod("a", "1"), pod("b", "2")], "10")], []), "Pod")
    seen = changes_of(informer)
    assert not informer.synced.is_set()
    assert informer.relist() == "10"
    assert informer.synced.is_set()
    assert seen == [("ADDED", "a"), ("ADDED", "b")]
    assert informer.get("a", "ns") == {**pod("a", "1"), "kind": "Pod"}
    assert informer.get("a") is None  # namespaced objects are keyed namespace/name


def test_items_of_a_list_get_their_kind_and_api_version() -> None:
    informer = Informer(Recorded([([pod("a", "1")], "10")], []), "Pod", api_version="v1")
    informer.relist()
    [found] = informer.items()
    assert (found["kind"], found["apiVersion"]) == ("Pod", "v1")


def test_watch_events_update_the_snapshot_and_bookmarks_only_move_on() -> None:
    stop = threading.Event()
    source = Recorded(
        [([pod("a", "1")], "10")],
        [
            [
                ("MODIFIED", pod("a", "11", node="n2")),
                ("BOOKMARK", {"metadata": {"resourceVersion": "12"}}),
                ("ADDED", pod("b", "13")),
                ("DELETED", pod("a", "14", node="n2")),
            ]
        ],
        stop,
    )
    informer = Informer(source, "Pod")
    seen = changes_of(informer)
    informer.run(stop)
    assert source.watched_from == ["10"]
    assert seen == [("ADDED", "a"), ("MODIFIED", "a"), ("ADDED", "b"), ("DELETED", "a")]
    assert [p["metadata"]["name"] for p in informer.items()] == ["b"]


def test_a_modified_event_with_the_same_version_is_not_announced_again() -> None:
    informer = Informer(Recorded([([pod("a", "1")], "10")], []), "Pod")
    seen = changes_of(informer)
    informer.relist()
    informer.seen("MODIFIED", pod("a", "1"))
    assert seen == [("ADDED", "a")]


def test_after_a_watch_ends_the_relist_replaces_the_snapshot_and_announces_the_difference() -> None:
    stop = threading.Event()
    source = Recorded(
        [
            ([pod("kept", "1"), pod("changed", "2"), pod("deleted", "3")], "10"),
            # While the watch was down: "deleted" went, "changed" moved, "new" came.
            ([pod("kept", "1"), pod("changed", "20", node="n9"), pod("new", "21")], "30"),
        ],
        [[], []],  # the first watch expires with nothing to say; so does the second
        stop,
    )
    informer = Informer(source, "Pod")
    changes: list[Change] = []
    informer.subscribe(changes.append)
    informer.run(stop)
    assert source.watched_from == ["10", "30"]
    after_first = [(c.type, c.obj["metadata"]["name"]) for c in changes[3:]]
    assert sorted(after_first) == [
        ("ADDED", "new"),
        ("DELETED", "deleted"),
        ("MODIFIED", "changed"),
    ]
    modified = next(c for c in changes[3:] if c.type == "MODIFIED")
    assert modified.old is not None
    assert modified.old["spec"]["nodeName"] == "n1"
    assert informer.get("deleted", "ns") is None
    assert informer.get("changed", "ns")["spec"]["nodeName"] == "n9"  # type: ignore[index]
    assert informer.lists == 2


def test_an_error_event_such_as_gone_ends_the_watch_and_lists_again() -> None:
    stop = threading.Event()
    gone = {"kind": "Status", "code": 410, "message": "too old resource version"}
    source = Recorded(
        [([pod("a", "1")], "10"), ([], "40")],
        [[("ERROR", gone), ("DELETED", pod("never-read", "5"))], []],
        stop,
    )
    informer = Informer(source, "Pod")
    seen = changes_of(informer)
    informer.run(stop)
    assert source.watched_from == ["10", "40"]
    assert seen == [("ADDED", "a"), ("DELETED", "a")]


def test_a_failing_subscriber_does_not_stop_the_others() -> None:
    informer = Informer(Recorded([([pod("a", "1")], "10")], []), "Pod")

    def broken(_: Change) -> None:
        raise RuntimeError("boom")

    informer.subscribe(broken)
    seen = changes_of(informer)
    informer.relist()
    assert seen == [("ADDED", "a")]


def test_a_failed_list_is_retried_after_a_pause() -> None:
    stop = threading.Event()

    class Flaky(Recorded):
        failures = 1

        def list_with_version(
            self, kind: str, label_selector: str | None = None
        ) -> tuple[list[dict[str, Any]], str]:
            if self.failures:
                self.failures -= 1
                raise OSError("connection refused")
            return super().list_with_version(kind, label_selector)

    source = Flaky([([pod("a", "1")], "10")], [[]], stop)
    informer = Informer(source, "Pod", retry_seconds=0.01)
    informer.run(stop)
    assert informer.synced.is_set()
    assert informer.lists == 1


@pytest.mark.parametrize("event_type", ["ADDED", "MODIFIED"])
def test_keep_trims_what_is_stored_and_announced(event_type: str) -> None:
    informer = Informer(
        Recorded([([], "1")], []),
        "Pod",
        keep=lambda obj: {"metadata": obj["metadata"]},
    )
    seen: list[Change] = []
    informer.subscribe(seen.append)
    informer.relist()
    informer.seen(event_type, pod("a", "2"))
    assert seen[0].obj == {"metadata": pod("a", "2")["metadata"]}
    assert informer.get("a", "ns") == {"metadata": pod("a", "2")["metadata"]}


def test_a_kind_that_is_not_served_is_synced_empty_and_listed_again() -> None:
    from kubernetes.client.exceptions import ApiException

    stop = threading.Event()

    class NotYet(Recorded):
        missing = 2

        def list_with_version(
            self, kind: str, label_selector: str | None = None
        ) -> tuple[list[dict[str, Any]], str]:
            if self.missing:
                self.missing -= 1
                raise ApiException(status=404, reason="Not Found")
            return super().list_with_version(kind, label_selector)

    source = NotYet([([pod("a", "1")], "10")], [[]], stop)
    informer = Informer(source, "Pod", retry_seconds=0.01)
    seen = changes_of(informer)
    informer.run(stop)
    assert informer.synced.is_set()
    assert seen == [("ADDED", "a")]
    assert informer.lists == 3


def test_an_api_server_away_costs_one_line_per_failure_and_no_traceback(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = threading.Event()

    class Away(Recorded):
        failures = 2

        def list_with_version(
            self, kind: str, label_selector: str | None = None
        ) -> tuple[list[dict[str, Any]], str]:
            if self.failures:
                self.failures -= 1
                raise ApiUnavailableError("GET /api/v1/pods", "Read timed out. (read timeout=30)")
            return super().list_with_version(kind, label_selector)

    def repair(_: Change) -> None:
        raise ApiUnavailableError("PATCH /api/v1/pods/a", "Connection refused")

    informer = Informer(Away([([pod("a", "1")], "10")], [[]], stop), "Pod", retry_seconds=0.01)
    informer.subscribe(repair)
    with caplog.at_level(logging.INFO, logger="souverain.runtime.informer"):
        informer.run(stop)
    assert informer.synced.is_set()
    records = [r for r in caplog.records if r.name == "souverain.runtime.informer"]
    assert [r.getMessage() for r in records] == [
        "Watch of Pod failed (GET /api/v1/pods: Read timed out. (read timeout=30)); listing again",
        "Watch of Pod failed (GET /api/v1/pods: Read timed out. (read timeout=30)); listing again",
        "Handling ADDED Pod ns/a failed: PATCH /api/v1/pods/a: Connection refused",
    ]
    assert not any(r.exc_info for r in records)


def test_a_silent_watch_is_listed_again_at_once_with_one_info_line(
    caplog: pytest.LogCaptureFixture,
) -> None:
    stop = threading.Event()

    class Silent(Recorded):
        def watch(
            self,
            kind: str,
            resource_version: str,
            label_selector: str | None = None,
            timeout_seconds: int = 300,
        ) -> Iterator[tuple[str, dict[str, Any]]]:
            if not self.watched_from:
                self.watched_from.append(resource_version)
                raise WatchSilentError("watch /api/v1/pods", "nothing came for 70 s")
            yield from super().watch(kind, resource_version, label_selector, timeout_seconds)

    source = Silent([([pod("a", "1")], "10"), ([pod("a", "1")], "11")], [[]], stop)
    informer = Informer(source, "Pod", retry_seconds=60)  # no pause: it would time out
    with caplog.at_level(logging.INFO, logger="souverain.runtime.informer"):
        informer.run(stop)
    assert informer.lists == 2
    [record] = [r for r in caplog.records if r.name == "souverain.runtime.informer"]
    assert record.levelno == logging.INFO
    assert record.getMessage() == (
        "Watch of Pod ended (watch /api/v1/pods: nothing came for 70 s); listing again"
    )
