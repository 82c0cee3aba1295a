"""What the operator's log says at the default level: what a person needs to read.

kopf logs every routine success at INFO (``Handler 'reconcile' succeeded.``, ``Creation
is processed: 1 succeeded; 0 failed.``, ``Activity 'login' succeeded.``) and posts those
about an object as Events too. Those lines go to DEBUG: ``--verbose`` shows them, and they
are never posted. Failures, retries and the operator's own lines keep their level.
"""

from __future__ import annotations

import logging
import re

import kopf

ROUTINE = re.compile(
    "|".join(
        (
            r"(Handler|Timer|Daemon|Activity|Index) '[^']+' succeeded\.",
            r"\w+ is processed: \d+ succeeded; 0 failed\.",
            r"Initial authentication has (been initiated|finished)\.",
            # The operator handles SIGINT and SIGTERM itself and stops kopf by its flag.
            r"OS signals are ignored: running not in the main thread\.",
            r"Stop-flag is set to \w+\. Operator is stopping\.",
        )
    )
)
"""kopf's lines about work that went as it should."""


class RoutineToDebug(logging.Filter):
    """Moves kopf's routine lines to DEBUG, and lets them through only when ``shown``."""

    def __init__(self, shown: bool) -> None:
        super().__init__()
        self.shown = shown

    def filter(self, record: logging.LogRecord) -> bool:
        # A record meets the filter at each handler: the second time, it is moved already.
        if not record.name.startswith("kopf") or not ROUTINE.fullmatch(record.getMessage()):
            return True
        record.levelno, record.levelname = logging.DEBUG, logging.getLevelName(logging.DEBUG)
        return self.shown


def configure(*, verbose: bool, json: bool) -> None:
    """kopf's logging (plain or JSON lines on stderr, INFO or with ``verbose`` DEBUG), with
    its routine lines at DEBUG."""
    kopf.configure(
        verbose=verbose, log_format=kopf.LogFormat.JSON if json else kopf.LogFormat.PLAIN
    )
    routine = RoutineToDebug(shown=verbose)
    # kopf.objects first: its records reach kopf's Event poster there, before they
    # propagate to the root logger's handler, which the others reach directly.
    for filtered in (logging.getLogger("kopf.objects"), *logging.getLogger().handlers):
        for old in [f for f in filtered.filters if isinstance(f, RoutineToDebug)]:
            filtered.removeFilter(old)
        filtered.addFilter(routine)
