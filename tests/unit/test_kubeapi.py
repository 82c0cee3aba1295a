"""The API client's failures, each told in one line: an API error with the server's own
message, an API server that refuses connections or stays silent."""

from __future__ import annotations

import json
import socket
from types import SimpleNamespace

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain.kubeapi import (
    WATCH_INACTIVITY_SECONDS,
    ApiUnavailableError,
    KubeApi,
    describe,
    watch_inactivity,
)


def api_error(status: int, reason: str, body: object) -> ApiException:
    response = SimpleNamespace(
        status=status,
        reason=reason,
        data=(body if isinstance(body, str) else json.dumps(body)).encode(),
        headers={"Content-Type": "application/json"},
    )
    return ApiException(http_resp=response)


def test_an_api_error_is_its_status_and_the_servers_message_on_one_line() -> None:
    error = api_error(
        422,
        "Unprocessable Entity",
        {"kind": "Status", "message": 'Pod "p" is invalid:\n spec.nodeName: Forbidden'},
    )
    assert (
        describe(error) == '422 Unprocessable Entity: Pod "p" is invalid: spec.nodeName: Forbidden'
    )
    assert "\n" not in str(error)[:0] + describe(error)


def test_an_api_error_without_a_status_body_is_its_status() -> None:
    assert describe(api_error(503, "Service Unavailable", "not json")) == "503 Service Unavailable"


def test_a_watch_may_stay_silent_a_little_past_its_end_or_past_the_next_bookmark() -> None:
    assert watch_inactivity(5) == 15
    assert watch_inactivity(300) == WATCH_INACTIVITY_SECONDS


@pytest.fixture
def closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
    return port


def _api(port: int) -> KubeApi:
    configuration = client.Configuration()
    configuration.host = f"https://127.0.0.1:{port}"
    configuration.verify_ssl = False
    configuration.retries = False
    return KubeApi(client.ApiClient(configuration))


def test_an_api_server_that_refuses_connections_is_unavailable_in_one_line(
    closed_port: int,
) -> None:
    with pytest.raises(ApiUnavailableError) as away:
        _api(closed_port).get("Namespace", "default")
    message = str(away.value)
    assert message.startswith("GET /api/v1/namespaces/default: ")
    assert "\n" not in message
    assert isinstance(away.value, OSError)


def test_a_watch_of_an_api_server_that_refuses_connections_is_unavailable(
    closed_port: int,
) -> None:
    with pytest.raises(ApiUnavailableError, match=r"^watch /api/v1/pods: "):
        list(_api(closed_port).watch("Pod", "1"))


def test_a_list_is_read_a_page_at_a_time_as_it_is_iterated() -> None:
    api = KubeApi(client.ApiClient(client.Configuration()))
    pages = {
        "": {"metadata": {"resourceVersion": "7", "continue": "a"}, "items": [{"n": 1}]},
        "a": {"metadata": {"resourceVersion": "7", "continue": "b"}, "items": [{"n": 2}]},
        "b": {"metadata": {"resourceVersion": "7"}, "items": [{"n": 3}]},
    }
    asked: list[list[tuple[str, str]]] = []

    def request(method: str, path: str, *, query: list[tuple[str, str]], **_: object) -> object:
        asked.append(query)
        return pages[dict(query).get("continue", "")]

    api._request = request  # type: ignore[assignment,method-assign]
    items, version = api.list_with_version("Pod", "app=web")
    assert version == "7"
    assert len(asked) == 1, "the first page is read at once, the others as they are reached"
    assert [item["n"] for item in items] == [1, 2, 3]
    assert [dict(query).get("continue") for query in asked] == [None, "a", "b"]
    assert all(
        ("limit", "500") in query and ("labelSelector", "app=web") in query for query in asked
    )
