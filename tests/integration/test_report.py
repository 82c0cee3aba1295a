"""``souverain report`` on the real control plane: a clean namespace and one with a
violation, as JSON with its exit code, and as HTML rendered by headless Chromium."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kubernetes import client
from kubernetes.client.exceptions import ApiException

from souverain.cli import VIOLATIONS_FOUND
from souverain.report.schema import Report
from tests.support.cluster import Cluster, wait_for
from tests.support.placement import running

GROUP, VERSION = "souverain.io", "v1alpha1"
RUN = uuid.uuid4().hex[:6]
PROFILE = f"report-{RUN}"
CLEAN = f"report-clean-{RUN}"
ADOPTED = f"report-adopted-{RUN}"
SOVEREIGN = "node-restriction.kubernetes.io/french-sovereign"

pytestmark = pytest.mark.usefixtures("operator")


def _pod(name: str, selector: dict[str, str]) -> dict[str, Any]:
    return {
        "metadata": {"name": name},
        "spec": {
            "nodeSelector": selector,
            "containers": [{"name": "app", "image": "registry.example/app:1"}],
        },
    }


def _bound(objects: Any, name: str) -> bool:
    found = objects.get_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces", name)
    return any(
        c["type"] == "NamespaceReady" and c["status"] == "True"
        for c in (found.get("status") or {}).get("conditions", [])
    )


def _ready(objects: Any, name: str) -> bool:
    found = objects.get_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces", name)
    return any(
        c["type"] == "Ready" and c["status"] == "True"
        for c in (found.get("status") or {}).get("conditions", [])
    )


@pytest.fixture(scope="module")
def tenants(api: Any, souverain_crds: None) -> Iterator[None]:
    """A clean sovereign namespace, and one adopted with a pod already on a US node."""
    objects, core = client.CustomObjectsApi(api), client.CoreV1Api(api)
    objects.create_cluster_custom_object(
        GROUP,
        VERSION,
        "sovereigntyprofiles",
        {
            "apiVersion": f"{GROUP}/{VERSION}",
            "kind": "SovereigntyProfile",
            "metadata": {"name": PROFILE},
            "spec": {
                "nodeRequirements": [{"key": SOVEREIGN, "operator": "In", "values": ["true"]}],
                "enforcement": {"mode": "Audit"},
            },
        },
    )
    core.create_namespace({"metadata": {"name": ADOPTED}})
    wait_for(lambda: core.read_namespaced_service_account("default", ADOPTED), "default SA")
    core.create_namespaced_pod(
        ADOPTED, _pod("legacy", {"topology.kubernetes.io/region": "us-east"})
    )
    wait_for(lambda: running(core, ADOPTED, "legacy"), "the legacy pod to run")
    for name in (CLEAN, ADOPTED):
        objects.create_cluster_custom_object(
            GROUP,
            VERSION,
            "sovereignnamespaces",
            {
                "apiVersion": f"{GROUP}/{VERSION}",
                "kind": "SovereignNamespace",
                "metadata": {"name": name},
                "spec": {"profileName": PROFILE, "deletionPolicy": "Delete"},
            },
        )
    wait_for(lambda: _ready(objects, CLEAN), f"{CLEAN} to be Ready")
    # The adopted namespace is not Ready (a pod runs on a US node): wait for the operator
    # to have taken it in hand.
    wait_for(lambda: _bound(objects, ADOPTED), f"{ADOPTED} to be bound")
    wait_for(lambda: core.read_namespaced_service_account("default", CLEAN), "default SA")
    core.create_namespaced_pod(CLEAN, _pod("app", {SOVEREIGN: "true"}))
    wait_for(lambda: running(core, CLEAN, "app"), "the sovereign pod to run")
    yield
    for name in (CLEAN, ADOPTED):
        try:
            objects.delete_cluster_custom_object(GROUP, VERSION, "sovereignnamespaces", name)
        except ApiException as error:
            if error.status != 404:
                raise
    objects.delete_cluster_custom_object(GROUP, VERSION, "sovereigntyprofiles", PROFILE)


def report(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "souverain", "report", *args],
        capture_output=True,
        text=True,
        env={**os.environ, "KUBECONFIG": str(cluster.kubeconfig)},
        timeout=120,
        check=False,
    )


def test_clean_namespace_reports_no_violation(cluster: Cluster, tenants: None) -> None:
    result = report(cluster, "--namespace", CLEAN, "--fail-on-violation")
    assert result.returncode == 0, result.stderr
    parsed = Report.model_validate_json(result.stdout)
    (part,) = parsed.namespaces
    assert part.profile == PROFILE
    assert part.violations == []
    assert [(p.name, p.compliant) for p in part.pods] == [("app", True)]
    assert part.nodes[0].qualified
    assert part.nodes[0].region == "fr-paris"
    assert part.nodes[0].jurisdiction == {SOVEREIGN: "true"}
    assert "NetworkPolicy" in part.enforcement_layers
    assert {e.policy for e in part.egress} >= {"souverain-deny-egress", "souverain-allow-dns"}
    assert any(layer.startswith("ValidatingAdmissionPolicy/") for layer in parsed.cluster_layers)
    (app,) = part.pods
    assert app.egress_isolated is True
    assert app.egress_outside_profile == []
    assert any("souverain-allow-same-namespace" in reach for reach in app.egress)


def test_a_wide_policy_an_administrator_wrote_shows_as_effective_egress(
    cluster: Cluster, api: Any, tenants: None
) -> None:
    """Admission lets a cluster administrator through; the report reads the outcome."""
    networking = client.NetworkingV1Api(api)
    networking.create_namespaced_network_policy(
        ADOPTED,
        {
            "metadata": {"name": "admin-wide"},
            "spec": {
                "podSelector": {},
                "policyTypes": ["Egress"],
                "egress": [{"to": [{"ipBlock": {"cidr": "0.0.0.0/0"}}]}],
            },
        },
    )
    try:
        result = report(cluster, "--namespace", ADOPTED)
        assert result.returncode == 0, result.stderr
        (part,) = Report.model_validate_json(result.stdout).namespaces
        (legacy,) = [p for p in part.pods if p.name == "legacy"]
        assert legacy.egress_isolated is True
        assert any("admin-wide" in escape for escape in legacy.egress_outside_profile)
        flagged = [v for v in part.violations if v.kind == "PodEgressOutsideProfile"]
        assert [v.object for v in flagged] == ["Pod/legacy"]
    finally:
        networking.delete_namespaced_network_policy("admin-wide", ADOPTED)


def test_violation_is_listed_and_fails_the_pipeline(cluster: Cluster, tenants: None) -> None:
    result = report(cluster, "--fail-on-violation")
    assert result.returncode == VIOLATIONS_FOUND, result.stderr
    document = json.loads(result.stdout)
    assert document["apiVersion"] == "souverain.io/report/v1"
    adopted = next(n for n in document["namespaces"] if n["name"] == ADOPTED)
    (violation,) = [v for v in adopted["violations"] if v["kind"] == "PodOnUnqualifiedNode"]
    assert violation["object"] == "Pod/legacy"
    assert "std-us-" in violation["message"]
    assert violation["seenAt"]
    without_flag = report(cluster, "--namespace", ADOPTED)
    assert without_flag.returncode == 0


def test_html_report_renders_in_a_browser(cluster: Cluster, tenants: None, tmp_path: Path) -> None:
    page, shot = tmp_path / "report.html", tmp_path / "report.png"
    result = report(cluster, "--format", "html", "-o", str(page))
    assert result.returncode == 0, result.stderr
    html = page.read_text()
    assert ADOPTED in html
    assert "PodOnUnqualifiedNode" in html
    chromium = shutil.which("chromium")
    if chromium is None:
        pytest.skip(
            "Chromium is missing (no chromium on PATH), so the HTML report is not rendered; "
            "tools/ensure-chromium.sh installs Debian's chromium, as make test does"
        )
    rendered = subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--window-size=1280,2000",
            f"--screenshot={shot}",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert shot.exists(), rendered.stderr
    png = shot.read_bytes()
    assert png.startswith(b"\x89PNG")
    assert len(png) > 20_000, "the screenshot looks blank"
