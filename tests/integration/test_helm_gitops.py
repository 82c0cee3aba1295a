"""The GitOps examples: what Argo CD and Flux would install is valid, a tenant kept in
Git becomes Ready (``kubectl wait``, which Flux's health checks also read), and the
Argo CD health check says Healthy for it."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lupa.lua51 as lupa
import pytest
import yaml

from tests.support.cluster import Cluster, wait_for
from tests.support.helm import KUBE_VERSION, helm
from tests.support.operator import Operator
from tests.support.repository import REPO

GITOPS = REPO / "examples" / "gitops"
REPOSITORY = "https://git.example.com/platform/souverain.git"


def documents(path: Path) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all(path.read_text()) if doc]


def kustomize(cluster: Cluster, folder: Path) -> list[dict[str, Any]]:
    built = cluster.kubectl("kustomize", str(folder)).stdout
    return [doc for doc in yaml.safe_load_all(built) if doc]


def test_argocd_applications_point_at_the_chart_and_the_tenants(tmp_path: Path) -> None:
    operator = documents(GITOPS / "argocd" / "souverain.yaml")[0]
    tenants = documents(GITOPS / "argocd" / "tenants.yaml")[0]
    for application in (operator, tenants):
        assert application["kind"] == "Application"
        assert application["spec"]["source"]["repoURL"] == REPOSITORY
    waves = [
        int(a["metadata"]["annotations"]["argocd.argoproj.io/sync-wave"])
        for a in (operator, tenants)
    ]
    assert waves[0] < waves[1], "the operator and its CRDs come before the tenants"
    source = operator["spec"]["source"]
    assert (REPO / source["path"] / "Chart.yaml").exists()
    assert (REPO / tenants["spec"]["source"]["path"] / "kustomization.yaml").exists()
    # Argo CD renders the chart with the Application's values: they pass the schema.
    values = tmp_path / "values.yaml"
    values.write_text(yaml.safe_dump(source["helm"]["valuesObject"]))
    rendered = helm(
        "template",
        source["helm"]["releaseName"],
        str(REPO / source["path"]),
        "-n",
        operator["spec"]["destination"]["namespace"],
        "--kube-version",
        KUBE_VERSION,
        "--values",
        str(values),
    )
    assert "kind: Deployment" in rendered


def test_flux_installs_the_chart_then_the_tenants_then_their_volumes() -> None:
    [source] = documents(GITOPS / "flux" / "source.yaml")
    assert source["spec"]["url"] == REPOSITORY
    [release] = documents(GITOPS / "flux" / "operator" / "souverain.yaml")
    chart = release["spec"]["chart"]["spec"]
    assert chart["sourceRef"] == {"kind": "GitRepository", "name": source["metadata"]["name"]}
    assert (REPO / chart["chart"] / "Chart.yaml").exists()
    kustomizations = {k["metadata"]["name"]: k for k in documents(GITOPS / "flux" / "tenants.yaml")}
    order = ["souverain-operator", "souverain-tenants", "souverain-volumes"]
    assert list(kustomizations) == order
    for previous, name in itertools.pairwise(order):
        assert kustomizations[name]["spec"]["dependsOn"] == [{"name": previous}]
    for kustomization in kustomizations.values():
        spec = kustomization["spec"]
        assert spec["wait"] is True, "Flux waits for Ready, which the three kinds report"
        assert (REPO / spec["path"] / "kustomization.yaml").exists()
    assert kustomizations["souverain-operator"]["spec"]["path"].endswith("flux/operator")


def argocd_health(kind: str, obj: dict[str, Any]) -> tuple[str, str]:
    config = documents(GITOPS / "argocd" / "argocd-cm-health.yaml")[0]
    script = config["data"][f"resource.customizations.health.souverain.io_{kind}"]
    lua = lupa.LuaRuntime(unpack_returned_tuples=False)
    lua.globals().obj = lua.table_from(obj, recursive=True)
    result = lua.execute(script)
    return str(result["status"]), str(result["message"])


@pytest.fixture
def tenant_from_git(cluster: Cluster, operator: Operator) -> Iterator[list[dict[str, Any]]]:
    """The tenants of ``examples/gitops/tenants/namespaces``, applied as Flux would, on
    the profile the chart ships; removed afterwards with their namespaces."""
    profile = REPO / "examples" / "sovereigntyprofile-french-sovereign.yaml"
    had_profile = cluster.kubectl("get", "sovereigntyprofile", "french-sovereign", check=False)
    cluster.kubectl("apply", "-f", str(profile))
    tenants = kustomize(cluster, GITOPS / "tenants" / "namespaces")
    cluster.kubectl("apply", "-k", str(GITOPS / "tenants" / "namespaces"))
    try:
        yield tenants
    finally:
        cluster.kubectl("delete", "-k", str(GITOPS / "tenants" / "namespaces"), "--wait")
        for tenant in tenants:
            cluster.kubectl("delete", "namespace", tenant["metadata"]["name"], "--ignore-not-found")
        if had_profile.returncode != 0:
            cluster.kubectl("delete", "-f", str(profile), "--wait", "--timeout=60s")


def test_a_tenant_from_git_is_ready_and_healthy(
    cluster: Cluster, tenant_from_git: list[dict[str, Any]], tmp_path: Path
) -> None:
    assert [t["kind"] for t in tenant_from_git] == ["SovereignNamespace"]
    name = tenant_from_git[0]["metadata"]["name"]
    waited = cluster.kubectl(
        "wait",
        "--for=condition=Ready",
        f"sovereignnamespace/{name}",
        "--timeout=90s",
        check=False,
    )
    assert waited.returncode == 0, waited.stderr
    assert f"sovereignnamespace.souverain.io/{name} condition met" in waited.stdout
    body = json.loads(cluster.kubectl("get", "sovereignnamespace", name, "-o", "json").stdout)
    status, message = argocd_health("SovereignNamespace", body)
    assert status == "Healthy", message

    def profile_health() -> tuple[str, str]:
        profile = cluster.kubectl("get", "sovereigntyprofile", "french-sovereign", "-o", "json")
        return argocd_health("SovereigntyProfile", json.loads(profile.stdout))

    wait_for(lambda: profile_health()[0] == "Healthy", "the profile to be Healthy for Argo CD")

    # The volumes, once the namespace exists, are valid for the API server.
    volumes = kustomize(cluster, GITOPS / "tenants" / "volumes")
    assert {v["metadata"]["namespace"] for v in volumes} == {name}
    manifest = tmp_path / "volumes.yaml"
    manifest.write_text(yaml.safe_dump_all(volumes))
    result = cluster.kubectl("apply", "--dry-run=server", "-f", str(manifest), check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.count("(server dry run)") == len(volumes)
