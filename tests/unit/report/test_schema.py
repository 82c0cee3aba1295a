"""The JSON schema of the residency report, as committed in ``docs/``."""

from __future__ import annotations

import json

from souverain.report.schema import json_schema
from tests.support.repository import REPO


def test_committed_schema_is_current() -> None:
    assert (REPO / "docs" / "report-schema.json").read_text() == json_schema()
    assert json.loads(json_schema())["properties"]["apiVersion"]["const"] == (
        "souverain.io/report/v1"
    )
