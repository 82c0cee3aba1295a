"""The operator's log at the default level: kopf's routine successes move to DEBUG (shown
with --verbose, never posted as Events); failures, retries and the operator's own lines
stay as they are."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from souverain.runtime import logs

ROUTINE = [
    ("kopf.objects", logging.INFO, "Handler 'reconcile' succeeded."),
    ("kopf.objects", logging.INFO, "Creation is processed: 1 succeeded; 0 failed."),
    ("kopf.objects", logging.INFO, "Resuming is processed: 2 succeeded; 0 failed."),
    ("kopf.objects", logging.INFO, "Timer 'recheck' succeeded."),
    ("kopf.activities.startup", logging.INFO, "Activity 'configure' succeeded."),
    ("kopf.activities.authentication", logging.INFO, "Activity 'login' succeeded."),
    ("kopf._core.engines.activities", logging.INFO, "Initial authentication has finished."),
    (
        "kopf._core.reactor.running",
        logging.WARNING,
        "OS signals are ignored: running not in the main thread.",
    ),
]
KEPT = [
    (
        "kopf.objects",
        logging.ERROR,
        "Handler 'reconcile' failed with an exception and will try again in 2 seconds: "
        "503 Service Unavailable",
    ),
    ("kopf.objects", logging.INFO, "Creation is processed: 0 succeeded; 1 failed."),
    (
        "kopf._cogs.clients.api",
        logging.ERROR,
        "Request attempt #1/9 failed; will retry: GET https://127.0.0.1/apis -> 429",
    ),
    ("kopf._core.engines.activities", logging.INFO, "Re-authentication has been initiated."),
    ("souverain.runtime.main", logging.INFO, "Active as vm_1"),
    ("souverain.handlers.bootstrap", logging.INFO, "Handler 'like kopf' succeeded."),
]


class Posted(logging.Handler):
    """What reaches the handlers of kopf.objects, where kopf's Event poster is."""

    def __init__(self) -> None:
        super().__init__()
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def posted() -> Iterator[Posted]:
    """Logging as it was before the test, after it; what kopf.objects handles, meanwhile."""
    root = logging.getLogger()
    objects = logging.getLogger("kopf.objects")
    saved = (root.handlers[:], root.level, objects.filters[:])
    handler = Posted()
    objects.addHandler(handler)
    yield handler
    objects.removeHandler(handler)
    root.handlers[:], objects.filters[:] = saved[0], saved[2]
    root.setLevel(saved[1])


def emit(lines: list[tuple[str, int, str]]) -> None:
    for name, level, message in lines:
        logging.getLogger(name).log(level, message)


def test_the_default_log_leaves_out_routine_successes_and_keeps_the_rest(
    posted: Posted, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure(verbose=False, json=False)
    emit(ROUTINE + KEPT)
    assert capsys.readouterr().err.splitlines() == [message for _, _, message in KEPT]
    assert [r.getMessage() for r in posted.records] == [
        message for name, _, message in KEPT if name == "kopf.objects"
    ]


def test_verbose_shows_routine_successes_at_debug_and_posts_none(
    posted: Posted, capsys: pytest.CaptureFixture[str]
) -> None:
    logs.configure(verbose=True, json=True)
    emit(ROUTINE)
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [line["message"] for line in lines] == [message for _, _, message in ROUTINE]
    assert {line["severity"] for line in lines} == {"debug"}
    assert {r.levelno for r in posted.records} == {logging.DEBUG}  # below posting's INFO


def test_configuring_again_leaves_one_filter(posted: Posted) -> None:
    logs.configure(verbose=False, json=False)
    logs.configure(verbose=True, json=False)
    filters = logging.getLogger("kopf.objects").filters
    assert [f.shown for f in filters if isinstance(f, logs.RoutineToDebug)] == [True]
