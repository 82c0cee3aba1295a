"""The residency report as one HTML page, without a cluster."""

from __future__ import annotations

from souverain.report.build import build_report
from souverain.report.html import render
from tests.support.cluster_state import state


def test_html_is_self_contained_and_escaped() -> None:
    sns = state().sovereign_namespaces[0]
    sns["metadata"]["name"] = "<script>alert(1)</script>"
    page = render(build_report(state(sovereign_namespaces=[sns])))
    assert "<script>" not in page
    assert "&lt;script&gt;" in page
    assert "http://" not in page
    assert "https://" not in page.replace("https://127.0.0.1:6443", "")
    assert "<link" not in page
    assert "<img" not in page
