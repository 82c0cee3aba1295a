"""Waiting at start-up for the API server to serve the operator's own kinds: through
``429 storage is (re)initializing`` quietly, in one line; not for a kind that is not
installed or an API server that fails otherwise, which the informers report."""

from __future__ import annotations

import json
import logging
import threading
from typing import Any

import pytest
from kubernetes.client.exceptions import ApiException

from souverain.kubeapi import ApiUnavailableError
from souverain.runtime.served import wait_served


def failure(status: int, message: str) -> ApiException:
    error = ApiException(status=status, reason={404: "Not Found", 429: "Too Many Requests"}[status])
    error.body = json.dumps({"kind": "Status", "message": message, "code": status})
    return error


INITIALIZING = failure(429, "storage is (re)initializing")


class Answers:
    """Answers each list of a kind with the next of its answers (the last one repeats)."""

    def __init__(self, **answers: list[BaseException | None]) -> None:
        self.answers = answers
        self.asked: list[str] = []

    def list_with_version(
        self, kind: str, label_selector: str | None = None
    ) -> tuple[list[dict[str, Any]], str]:
        self.asked.append(kind)
        queue = self.answers[kind]
        answer = queue.pop(0) if len(queue) > 1 else queue[0]
        if answer is not None:
            raise answer
        return [], "1"


def test_waits_through_initializing_storage_saying_so_once(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = Answers(
        SovereigntyProfile=[INITIALIZING, INITIALIZING, None],
        SovereignNamespace=[INITIALIZING, None],
        ResidentVolume=[None],
    )
    with caplog.at_level(logging.INFO, logger="souverain.runtime.served"):
        assert wait_served(source, threading.Event(), retry_seconds=0.01)
    assert source.asked == [
        "SovereigntyProfile",
        "SovereignNamespace",
        "ResidentVolume",
        "SovereigntyProfile",
        "SovereignNamespace",
        "SovereigntyProfile",
    ]
    assert caplog.messages == [
        "Waiting for the API server to serve SovereigntyProfile, SovereignNamespace "
        "(429 Too Many Requests: storage is (re)initializing)"
    ]


def test_a_kind_not_installed_or_an_api_server_away_is_left_to_the_informers(
    caplog: pytest.LogCaptureFixture,
) -> None:
    source = Answers(
        SovereigntyProfile=[failure(404, "the server could not find the requested resource")],
        SovereignNamespace=[ApiUnavailableError("GET /apis", "Connection refused")],
        ResidentVolume=[None],
    )
    with caplog.at_level(logging.INFO, logger="souverain.runtime.served"):
        assert wait_served(source, threading.Event(), retry_seconds=0.01)
    assert len(source.asked) == 3
    assert caplog.messages == []


def test_a_stop_ends_the_wait() -> None:
    stop = threading.Event()
    stop.set()
    source = Answers(SovereigntyProfile=[INITIALIZING])
    assert not wait_served(source, stop, kinds=("SovereigntyProfile",))
