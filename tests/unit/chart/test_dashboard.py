"""The Grafana dashboard shipped in the chart asks only for metrics the operator exports."""

from __future__ import annotations

import json
import re

from souverain.metrics import Metrics
from tests.support.repository import REPO

DASHBOARD = REPO / "helm" / "souverain" / "dashboards" / "souverain.json"
SUFFIXES = {"counter": ("_total",), "histogram": ("_bucket", "_sum", "_count"), "gauge": ("",)}


def exported() -> set[str]:
    """Every series name the operator's registry can expose."""
    names = set()
    for family in Metrics().registry.collect():
        for suffix in SUFFIXES.get(family.type, ("",)):
            names.add(family.name + suffix)
    return names


def queries() -> list[str]:
    panels = json.loads(DASHBOARD.read_text())["panels"]
    return [target["expr"] for panel in panels for target in panel["targets"]]


def test_every_query_names_an_exported_metric() -> None:
    known = exported()
    assert queries()
    for expr in queries():
        used = set(re.findall(r"\bsouverain_[a-z_]+", expr))
        assert used, f"query names no souverain metric: {expr}"
        assert used <= known, f"{expr} asks for {sorted(used - known)}, not exported"


def test_dashboard_covers_what_an_engineer_reads_first() -> None:
    titles = {p["title"] for p in json.loads(DASHBOARD.read_text())["panels"]}
    assert {"Compliance per namespace", "Violations over time", "Reconcile errors"} <= titles
    assert any("Admission latency" in title for title in titles)
