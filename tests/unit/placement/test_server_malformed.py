"""The webhook server, run over real TLS on loopback, answers every bad request of
:mod:`tests.support.malformed` with its 4xx and one warning line (no traceback), keeps
answering well-formed reviews, and takes a review larger than aiohttp's default limit."""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import logging
import socket
import ssl
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from souverain.certificates import serving_certificate
from souverain.metrics import Metrics
from souverain.placement.server import WebhookServer
from souverain.placement.state import PlacementState
from souverain.runtime.informer import Informer
from souverain.runtime.snapshot import Snapshot
from souverain.settings import WebhookOptions
from tests.support.informer import Recorded
from tests.support.malformed import (
    BOUND,
    OTHER_NODE,
    QUALIFIED_NODE,
    WEBHOOK_ROWS,
    WELL_FORMED,
    Malformed,
    WebhookRequest,
    WellFormed,
    binding_review,
    pod_review,
)

SOVEREIGN = "node-restriction.kubernetes.io/french-sovereign"


def _informer(kind: str, items: list[dict[str, Any]]) -> Informer:
    informer = Informer(Recorded([(items, "10")], []), kind)
    informer.relist()
    return informer


def placement_state() -> PlacementState:
    """A snapshot that has listed: namespace ``tenant`` bound to the enforced profile
    ``fr``, one node that qualifies and one that does not."""
    profile = {
        "kind": "SovereigntyProfile",
        "metadata": {"name": "fr", "resourceVersion": "1"},
        "spec": {
            "nodeRequirements": [{"key": SOVEREIGN, "operator": "In", "values": ["true"]}],
            "enforcement": {"mode": "Enforce"},
        },
    }
    namespace = {
        "kind": "Namespace",
        "metadata": {
            "name": BOUND,
            "resourceVersion": "2",
            "labels": {"souverain.io/profile": "fr"},
        },
    }
    nodes = [
        {"kind": "Node", "metadata": {"name": QUALIFIED_NODE, "labels": {SOVEREIGN: "true"}}},
        {"kind": "Node", "metadata": {"name": OTHER_NODE, "labels": {}}},
    ]
    snapshot = Snapshot(
        profiles=Informer(Recorded([([profile], "10")], []), "SovereigntyProfile"),
        sovereign_namespaces=_informer("SovereignNamespace", []),
        resident_volumes=_informer("ResidentVolume", []),
        namespaces=Informer(Recorded([([namespace], "10")], []), "Namespace"),
        nodes=Informer(Recorded([(nodes, "10")], []), "Node"),
        pods=Informer(Recorded([([], "10")], []), "Pod"),
        network_policies=_informer("NetworkPolicy", []),
        role_bindings=_informer("RoleBinding", []),
        resident_claims=_informer("PersistentVolumeClaim", []),
        volumes=_informer("PersistentVolume", []),
        mutating_webhooks=_informer("MutatingWebhookConfiguration", []),
        validating_webhooks=_informer("ValidatingWebhookConfiguration", []),
        policy_bindings=_informer("ValidatingAdmissionPolicyBinding", []),
    )
    state = PlacementState(
        snapshot, WebhookOptions(), mutating_policies=True, active=threading.Event()
    )
    state.subscribe()
    for informer in (snapshot.profiles, snapshot.namespaces, snapshot.nodes, snapshot.pods):
        informer.relist()
    assert state.synced
    return state


class Client:
    """HTTPS requests to the server, trusting its CA."""

    def __init__(self, port: int, ca: Path, metrics: Metrics) -> None:
        self.port = port
        self.context = ssl.create_default_context(cafile=str(ca))
        self.metrics = metrics

    def send(self, request: WebhookRequest) -> tuple[int, str]:
        connection = http.client.HTTPSConnection(
            "127.0.0.1", self.port, context=self.context, timeout=30
        )
        headers = {} if request.content_type is None else {"Content-Type": request.content_type}
        try:
            if request.chunked:
                chunks = (request.body[i : i + 65536] for i in range(0, len(request.body), 65536))
                connection.request(
                    request.method, request.path, chunks, headers, encode_chunked=True
                )
            else:
                connection.request(request.method, request.path, request.body, headers)
            response = connection.getresponse()
            return response.status, response.read().decode()
        finally:
            connection.close()

    def review(self, path: str, review: dict[str, Any]) -> dict[str, Any]:
        status, text = self.send(WebhookRequest(json.dumps(review).encode(), path))
        assert status == 200, text
        answer: dict[str, Any] = json.loads(text)
        return answer


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Client]:
    """A client of a webhook server running on its own event loop in a thread."""
    served = serving_certificate(tmp_path_factory.mktemp("webhook"), ("127.0.0.1",))
    port = _free_port()
    options = WebhookOptions(listen=f"127.0.0.1:{port}", url=f"https://127.0.0.1:{port}")
    metrics = Metrics()
    server = WebhookServer(placement_state(), options, served, metrics)
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield Client(port, Path(served.certfile).parent / "ca.crt", metrics)
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()


@pytest.mark.parametrize("row", WELL_FORMED, ids=[row.name for row in WELL_FORMED])
def test_a_well_formed_review_is_answered(
    row: WellFormed, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    answer = client.review(row.path, row.review)
    response = answer["response"]
    assert answer["kind"] == "AdmissionReview"
    assert response["uid"] == row.review["request"]["uid"]
    assert response["allowed"] is row.allowed
    assert ("patch" in response) is row.patched
    if row.patched:
        patch = json.loads(base64.b64decode(response["patch"]))
        assert {op["path"] for op in patch} == {"/spec/affinity"}
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []


def test_each_decision_is_counted_and_timed(client: Client) -> None:
    def sample(name: str, **labels: str) -> float:
        return client.metrics.registry.get_sample_value(name, labels) or 0.0

    counted = {"webhook": "pin", "operation": "CREATE"}
    before = (
        sample("souverain_admission_decisions_total", **counted, outcome="patched"),
        sample("souverain_admission_duration_seconds_count", **counted),
        sample(
            "souverain_admission_decisions_total",
            webhook="binding",
            operation="CREATE",
            outcome="refused",
        ),
    )
    for _ in range(2):
        client.review("/pin", pod_review())
    client.review("/binding", binding_review(OTHER_NODE))
    assert (
        sample("souverain_admission_decisions_total", **counted, outcome="patched"),
        sample("souverain_admission_duration_seconds_count", **counted),
        sample(
            "souverain_admission_decisions_total",
            webhook="binding",
            operation="CREATE",
            outcome="refused",
        ),
    ) == (before[0] + 2, before[1] + 2, before[2] + 1)
    assert sample("souverain_admission_duration_seconds_sum", **counted) > 0


@pytest.mark.parametrize("row", WEBHOOK_ROWS, ids=[row.name for row in WEBHOOK_ROWS])
def test_a_bad_request_gets_a_4xx_saying_why_and_one_log_line(
    row: Malformed, client: Client, caplog: pytest.LogCaptureFixture
) -> None:
    assert isinstance(row.given, WebhookRequest)
    caplog.set_level(logging.DEBUG)
    status, text = client.send(row.given)
    assert (status, row.says in text) == (row.answer, True), text
    assert "Traceback" not in text
    assert all(record.exc_info is None for record in caplog.records)
    refusals = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [r.name for r in refusals] == ["souverain.placement.server"]
    line = refusals[0].getMessage()
    assert "\n" not in line
    assert row.given.path in line
    assert row.says in line
    # The server is still there, and still decides.
    answer = client.review("/pin", pod_review())
    assert answer["response"]["allowed"] is True
    assert "patch" in answer["response"]
